using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Sandgrain.Runtime.Discovery;
using Sandgrain.TestActors;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Runtime.Tests;

/// <summary>
/// A silo that never accepts cannot hold a caller past its deadline, and a silo whose actors never finish
/// deactivating still shuts down within its shutdown timeout.
/// </summary>
public sealed class ConnectAndShutdownFaultTests
{
    private static readonly TimeSpan Unexpected = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ListenerThatNeverAccepts_FailsEveryCallerAtItsDeadline_AndTheNextCallTriesAgain()
    {
        using var container = new TestContainer();

        // A listener whose backlog is full: it never accepts, so a blocking connect to it would never return.
        var name = Guid.NewGuid().ToString("N")[..8];
        var path = Path.Combine(container.Container.GetSandgrainFolder("s"), name);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(0);
        var fillers = new List<Socket>();
        for (var i = 0; i < 8; i++)
        {
            var filler = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { Blocking = false };
            try
            {
                filler.Connect(new UnixDomainSocketEndPoint(path));
            }
            catch (SocketException)
            {
                // The backlog is full: that is the point.
            }

            fillers.Add(filler);
        }

        using var registry = new SiloRegistry(container.Container);
        using var forged = registry.Publish(new SiloRecord
        {
            SiloId = SiloRecord.NewSiloId(),
            ProcessId = Environment.ProcessId,
            StartTime = DateTimeOffset.UtcNow,
            ProtocolVersion = Messaging.Protocol.Version,
            ActorTypes = [typeof(INumberActor).FullName!],
            Addresses = ["unix:s/" + name],
        });
        using var client = await TestClients.StartAsync(TestClients.Arguments(container, "unix"));
        var factory = client.Services.GetRequiredService<IActorFactory>();
        try
        {
            for (var round = 0; round < 2; round++)
            {
                var started = Stopwatch.StartNew();
                using (ActorCall.WithTimeout(TimeSpan.FromSeconds(1)))
                {
                    // On pool threads, so that a connect that blocks its caller shows as a timeout here, not a hang.
                    var callers = Enumerable.Range(0, 4).Select(i => Task.Run(() => factory.GetGrain<INumberActor>(i).Square(), Token)).ToList();
                    foreach (var caller in callers)
                    {
                        var e = await Assert.ThrowsAnyAsync<ActorCallException>(() => caller.WaitAsync(Unexpected, Token));
                        Assert.True(e is ActorCallTimeoutException or ActorUnavailableException, e.ToString());
                    }
                }

                Assert.True(started.Elapsed < TimeSpan.FromSeconds(15), $"round {round}: the callers took {started.Elapsed.TotalSeconds:0.#} s");
            }
        }
        finally
        {
            foreach (var filler in fillers)
            {
                filler.Dispose();
            }

            await client.StopAsync(Token);
        }
    }

    [Fact]
    public async Task SiloWhoseActorNeverFinishesDeactivating_StillShutsDown_WithinItsShutdownTimeout()
    {
        using var container = new TestContainer();
        using var captured = CapturedProcess.Start(Path.Combine(AppContext.BaseDirectory, "Sandgrain.TestSilo"), TestClients.Arguments(container, "unix", "--Sandgrain:ShutdownTimeout=00:00:01"));
        var silo = captured.Process;
        try
        {
            var ready = await silo.StandardOutput.ReadLineAsync(Token).AsTask().WaitAsync(Unexpected, Token);
            Assert.StartsWith("READY", ready, StringComparison.Ordinal);
            _ = silo.StandardOutput.ReadToEndAsync(Token);
            using (var client = await TestClients.StartAsync(TestClients.Arguments(container, "unix")))
            {
                Assert.Equal(silo.Id, await client.Services.GetRequiredService<IActorFactory>().GetGrain<IHangingActor>("stuck").Ping());
                await client.StopAsync(Token);
            }

            // Closing its stdin stops the silo's host; the actor's OnDeactivateAsync never completes.
            var stopping = Stopwatch.StartNew();
            silo.StandardInput.Close();
            await silo.WaitForExitAsync(Token).WaitAsync(Unexpected, Token);
            Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(20), $"shutdown took {stopping.Elapsed.TotalSeconds:0.#} s");
            silo.WaitForExit();
            Assert.Contains("Sandgrain:ShutdownTimeout", captured.Stderr, StringComparison.Ordinal);
            Assert.Contains("IHangingActor/stuck", captured.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            if (!silo.HasExited)
            {
                silo.Kill();
            }
        }
    }
}
