// A helper program for launcher and registry tests, and a client that asks for a helper.
//
//   serve                 (launched by the launcher) note the start in <container>/starts.log, claim the helper
//                         singleton, publish the record, print READY, stay up until killed
//   crash                 write a fatal message to stderr and exit 42 before registering
//   silent                start and never register
//   ensure --helper NAME --helper-exe PATH --helper-mode MODE --container DIR --group ID [--start-timeout S] [--wait-for-go true]
//                         wait for a "GO" line on stdin (so many clients start at the same moment), call
//                         EnsureRunningAsync and print "RECORD <pid> <silo-id>"
using Sandgrain;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Transport;

var mode = args.Length > 0 ? args[0] : "serve";
switch (mode)
{
    case "serve":
    {
        var launch = LaunchEnvironment.FromEnvironment() ?? throw new InvalidOperationException("not started by the launcher");
        var container = GroupContainer.Open(GroupId.Parse(launch.GroupId), launch.ContainerPath);
        File.AppendAllText(Path.Combine(container.Path, "starts.log"), $"{Environment.ProcessId}\n");
        using var instance = HelperLauncher.TryClaimHelperInstance(container, launch.Helper);
        if (instance is null)
        {
            Console.Error.WriteLine($"another instance of helper '{launch.Helper}' is already running in {container.Path}; exiting");
            return 3;
        }

        using var registry = new SiloRegistry(container);
        using var registration = registry.Publish(new SiloRecord
        {
            SiloId = launch.SiloId,
            Helper = launch.Helper,
            ProcessId = Environment.ProcessId,
            StartTime = DateTimeOffset.UtcNow,
            ProtocolVersion = 1,
            ActorTypes = ["ITestActor"],
            Addresses = ["unix:s/" + launch.SiloId[..8]],
        });
        Console.WriteLine("READY");
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }

    case "crash":
        Console.Error.WriteLine("fatal: the device configuration file is missing");
        return 42;

    case "silent":
    {
        var launch = LaunchEnvironment.FromEnvironment() ?? throw new InvalidOperationException("not started by the launcher");
        File.AppendAllText(Path.Combine(launch.ContainerPath, "starts.log"), $"{Environment.ProcessId}\n");
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }

    case "ensure":
    {
        var options = new Dictionary<string, string>();
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            options[args[i].TrimStart('-')] = args[i + 1];
        }

        var container = GroupContainer.Open(GroupId.Parse(options["group"]), options["container"]);
        using var registry = new SiloRegistry(container);
        var helpers = new Dictionary<string, HelperOptions>
        {
            [options["helper"]] = new()
            {
                Executable = options["helper-exe"],
                Arguments = [options["helper-mode"]],
                StartTimeout = TimeSpan.FromSeconds(double.Parse(options.GetValueOrDefault("start-timeout", "20"), System.Globalization.CultureInfo.InvariantCulture)),
            },
        };
        var launcher = new HelperLauncher(container, registry, helpers);
        Console.WriteLine("WAITING");
        if (options.ContainsKey("wait-for-go"))
        {
            Console.ReadLine();
        }

        var record = await launcher.EnsureRunningAsync(options["helper"]);
        Console.WriteLine($"RECORD {record.ProcessId} {record.SiloId}");
        return 0;
    }

    default:
        Console.Error.WriteLine($"unknown mode '{mode}'");
        return 2;
}
