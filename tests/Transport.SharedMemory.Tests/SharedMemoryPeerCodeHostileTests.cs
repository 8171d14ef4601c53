using Microsoft.Extensions.DependencyInjection;
using Sandgrain.Transport.Conformance;
using Sandgrain.Transport.UnixSocket;

namespace Sandgrain.Transport.SharedMemory.Tests;

/// <summary>
/// A code requirement holds for shared memory as for Unix sockets: a peer that the Unix-socket transport refuses must
/// not get in by dialling the silo's shared-memory address instead. The requirement is checked on the companion
/// socket, before anything is mapped (sandbox-facts §4.4).
/// </summary>
public sealed class SharedMemoryPeerCodeHostileTests(ITestOutputHelper output)
{
    private const string NeedsMacOS = "needs macOS (code-signing requirement: audit tokens and the Security framework)";
    private const string TeamRequirement = "anchor apple generic and certificate leaf[subject.OU] = \"ABCDE12345\"";
    private static readonly TimeSpan Unexpected = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public void UnixSocketRequirement_ReachesTheSharedMemoryTransport_InTheGenericHost()
    {
        if (OperatingSystem.IsMacOS())
        {
            Assert.Skip("checks, by the refusal it meets off macOS, that the requirement reaches the companion socket; macOS compiles it instead (see the live tests)");
        }

        // Before, the shared-memory transport never saw the requirement: it was created without complaint, and its
        // connections checked nobody's code.
        using var container = new TestContainer();
        var services = new ServiceCollection().AddSingleton(container.Container);
        services.AddSandgrainUnixSocketTransport(o => o.PeerCodeRequirement = TeamRequirement);
        services.AddSandgrainSharedMemoryTransport();
        using var provider = services.BuildServiceProvider();
        var e = Assert.Throws<PlatformNotSupportedException>(() => provider.GetRequiredService<SharedMemoryTransport>());
        output.WriteLine(e.Message);
        Assert.Contains(TeamRequirement, e.Message, StringComparison.Ordinal);
        Assert.Contains("needs macOS", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NoRequirement_IsTheDefault()
    {
        using var container = new TestContainer();
        var services = new ServiceCollection().AddSingleton(container.Container);
        services.AddSandgrainUnixSocketTransport();
        services.AddSandgrainSharedMemoryTransport();
        using var provider = services.BuildServiceProvider();
        Assert.NotNull(provider.GetRequiredService<SharedMemoryTransport>());
    }

    [Fact]
    public async Task RequirementNobodySatisfies_RefusesTheSharedMemoryConnection_BeforeAnythingIsMapped()
    {
        if (!OperatingSystem.IsMacOS())
        {
            Assert.Skip(NeedsMacOS);
        }

        using var container = new TestContainer();
        var server = new SharedMemoryTransport(container.Container);
        var address = server.CreateUniqueAddress();
        await using var listener = await server.BindAsync(server.CreateEndPoint(address), Token);
        _ = listener.AcceptAsync(Token).AsTask();

        var client = new SharedMemoryTransport(container.Container, null, null, peerCodeRequirement: "never");
        var e = await Assert.ThrowsAnyAsync<Exception>(() => client.ConnectAsync(client.CreateEndPoint(address), Token).AsTask().WaitAsync(Unexpected, Token));
        output.WriteLine(e.ToString());
        Assert.Contains("'never'", e.ToString(), StringComparison.Ordinal);
    }
}
