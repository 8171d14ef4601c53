using System.Diagnostics;
using System.Reflection;
using System.Text;

namespace Sandgrain.SandboxedApp.Tests;

/// <summary>
/// Runs a program of the sample inside a bubblewrap sandbox shaped like the App Sandbox as far as Linux allows:
/// the whole file system read-only, a private /tmp, its own PID, IPC and network namespaces, and only the group
/// container shared read-write. Processes it spawns (the helpers) stay inside it, as macOS helpers inherit the
/// app's sandbox (com.apple.security.inherit).
/// </summary>
internal sealed class Sandbox : IDisposable
{
    private Sandbox(string root)
    {
        Root = root;
        Container = Path.Combine(root, "container");
        Directory.CreateDirectory(Container);
    }

    /// <summary>The host folder holding the container and each sandbox's private /tmp.</summary>
    public string Root { get; }

    /// <summary>The group container, the one folder every sandbox may write.</summary>
    public string Container { get; }

    /// <summary>The sample's build output (App, its helpers and the Viewer).</summary>
    public static string SampleFolder { get; } = FindSampleFolder();

    /// <summary>Why sandboxes cannot run here, or null when they can.</summary>
    public static string? Unavailable { get; } = Probe();

    public static Sandbox Create() => new(Path.Combine("/tmp", "sgbox-" + Guid.NewGuid().ToString("N")[..10]));

    /// <summary>The private /tmp of the sandbox named <paramref name="name"/>, as the host sees it.</summary>
    public string PrivateTmp(string name) => Path.Combine(Root, name + "-tmp");

    /// <summary>Starts <paramref name="program"/> from the sample folder in a sandbox of its own.</summary>
    public SandboxedProcess Start(string name, string program, params string[] arguments)
    {
        var tmp = PrivateTmp(name);
        Directory.CreateDirectory(tmp);
        var start = new ProcessStartInfo("bwrap")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        string[] sandbox =
        [
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--proc", "/proc",
            "--bind", tmp, "/tmp",

            // Put back, read-only, what the private /tmp hides when the checkout itself lives under /tmp.
            "--ro-bind", SampleFolder, SampleFolder,
            "--bind", Container, Container,
            "--unshare-pid", "--unshare-ipc", "--unshare-net", "--unshare-uts",
            "--die-with-parent",
            "--chdir", Container,

            // The runtime's diagnostics socket would be the only file written to /tmp; a sandboxed app has no use for it.
            "--setenv", "DOTNET_EnableDiagnostics", "0",
            "--",
            Path.Combine(SampleFolder, program),
            "--Sandgrain:ContainerPath=" + Container,
        ];
        foreach (var a in sandbox.Concat(arguments))
        {
            start.ArgumentList.Add(a);
        }

        return new SandboxedProcess(name, Process.Start(start)!);
    }

    /// <summary>Every file (not folder) under <paramref name="folder"/>: what a sandbox wrote there.</summary>
    public static string[] FilesUnder(string folder) =>
        Directory.Exists(folder) ? Directory.GetFiles(folder, "*", SearchOption.AllDirectories) : [];

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A helper may still be exiting; the folder is in /tmp.
        }
    }

    private static string FindSampleFolder()
    {
        var configuration = typeof(Sandbox).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Sandgrain.slnx")))
            {
                return Path.Combine(dir.FullName, "samples", "SandboxedApp", "App", "bin", configuration, "net10.0");
            }
        }

        throw new InvalidOperationException("The repository root (Sandgrain.slnx) is not above the test's folder.");
    }

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "bubblewrap sandboxes are Linux-only; on macOS the App Sandbox itself is used (see samples/SandboxedApp/macos)";
        }

        try
        {
            using var probe = Process.Start(new ProcessStartInfo("bwrap", ["--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--proc", "/proc", "--dev", "/dev", "true"]) { RedirectStandardError = true })!;
            var error = probe.StandardError.ReadToEnd();
            probe.WaitForExit();
            return probe.ExitCode == 0 ? null : $"bubblewrap cannot create a sandbox on this machine: {error.Trim()}";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "bubblewrap (bwrap) is not installed; .ci/run installs it with apt-get install -y bubblewrap";
        }
    }
}

/// <summary>A program running in a sandbox, with its output collected.</summary>
internal sealed class SandboxedProcess : IDisposable
{
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _errors = new();

    internal SandboxedProcess(string name, Process process)
    {
        Name = name;
        Process = process;
        process.OutputDataReceived += (_, e) => Append(_output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(_errors, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }

    public Process Process { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public string Errors
    {
        get
        {
            lock (_errors)
            {
                return _errors.ToString();
            }
        }
    }

    /// <summary>Waits for the exit and returns the exit code; kills the sandbox at the timeout.</summary>
    public async Task<int> WaitAsync(TimeSpan timeout)
    {
        try
        {
            await Process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            Process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Name} did not finish within {timeout.TotalSeconds} s. Output:\n{Output}\nErrors:\n{Errors}");
        }

        Process.WaitForExit();
        return Process.ExitCode;
    }

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
        }

        Process.Dispose();
    }

    private static void Append(StringBuilder to, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (to)
        {
            to.AppendLine(line);
        }
    }
}
