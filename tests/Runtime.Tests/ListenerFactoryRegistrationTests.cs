using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Sandgrain.Transport.Conformance;
using Sandgrain.Transport.SharedMemory;
using Sandgrain.Transport.UnixSocket;
using Xunit;

namespace Sandgrain.Runtime.Tests;

/// <summary>The transports as Kestrel finds them: among the host's listener factories, each claiming only its own end points.</summary>
public sealed class ListenerFactoryRegistrationTests
{
    [Fact]
    public void EachTransport_IsOneOfTheHostsListenerFactories_AndClaimsOnlyItsOwnEndPoints()
    {
        using var container = new TestContainer();
        var services = new ServiceCollection();
        services.AddSingleton(container.Container);
        services.AddSandgrainUnixSocketTransport();
        services.AddSandgrainSharedMemoryTransport();
        services.AddSandgrainUnixSocketTransport();
        using var provider = services.BuildServiceProvider();

        var unix = provider.GetRequiredService<UnixSocketTransport>();
        var shm = provider.GetRequiredService<SharedMemoryTransport>();
        var factories = provider.GetServices<IConnectionListenerFactory>().ToArray();
        Assert.Equal(2, factories.Length);
        Assert.Contains(unix, factories);
        Assert.Contains(shm, factories);

        var unixEndPoint = unix.CreateEndPoint(unix.CreateUniqueAddress());
        var shmEndPoint = shm.CreateEndPoint(shm.CreateUniqueAddress());
        EndPoint[] kestrelsOwn = [new UnixDomainSocketEndPoint(Path.Combine(container.Root, "kestrel.sock")), new IPEndPoint(IPAddress.Loopback, 5000)];

        Assert.True(unix.CanBind(unixEndPoint));
        Assert.False(unix.CanBind(shmEndPoint));
        Assert.True(shm.CanBind(shmEndPoint));
        Assert.False(shm.CanBind(unixEndPoint));
        foreach (var other in kestrelsOwn)
        {
            Assert.False(unix.CanBind(other), $"the Unix-socket transport claimed {other}");
            Assert.False(shm.CanBind(other), $"the shared-memory transport claimed {other}");
        }
    }
}
