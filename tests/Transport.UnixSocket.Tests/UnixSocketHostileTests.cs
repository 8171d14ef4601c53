using System.Diagnostics;
using System.Net.Sockets;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.UnixSocket.Tests;

/// <summary>
/// Peers that connect and say nothing, by the thousand, as a flood would: each costs the listener a descriptor and
/// a slot in the one thread that waits for first bytes, never a thread of its own, and the listener keeps serving.
/// </summary>
[Collection(nameof(ThreadCountingCollection))]
public sealed class UnixSocketHostileTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Unexpected = TimeSpan.FromSeconds(30);
    private readonly TestContainer _container = new();

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ThousandSilentConnections_CostNoThreads_AndTheOneThatSpeaksIsServed()
    {
        var transport = new UnixSocketTransport(_container.Container);
        var endpoint = (UnixSocketEndPoint)transport.CreateEndPoint(transport.CreateUniqueAddress());
        await using var listener = await transport.BindAsync(endpoint, Token);
        var accepted = new List<Microsoft.AspNetCore.Connections.ConnectionContext>();
        var silent = new List<Socket>();
        try
        {
            // Warm up: one connection that speaks, so the watcher's thread and the pool exist before counting.
            await SpeakAsync(endpoint, listener, accepted);
            var threads = ThreadCount();
            for (var i = 0; i < 1000; i++)
            {
                var raw = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await raw.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(endpoint.Path), Token);
                silent.Add(raw);
                accepted.Add((await listener.AcceptAsync(Token).AsTask().WaitAsync(Unexpected, Token))!);
            }

            var after = ThreadCount();
            output.WriteLine($"threads: {threads} before, {after} with 1000 silent connections accepted");
            Assert.True(after < threads + 50, $"1000 silent connections took {after - threads} threads");

            // The listener still serves, and a silent connection that speaks up is read.
            await SpeakAsync(endpoint, listener, accepted);
            await silent[500].SendAsync(new byte[] { 42 }, Token);
            var read = await accepted[501].Transport.Input.ReadAsync(Token).AsTask().WaitAsync(Unexpected, Token);
            Assert.Equal(42, read.Buffer.FirstSpan[0]);
            accepted[501].Transport.Input.AdvanceTo(read.Buffer.End);

            // A silent one that hangs up ends its input.
            silent[700].Dispose();
            var ended = await accepted[701].Transport.Input.ReadAsync(Token).AsTask().WaitAsync(Unexpected, Token);
            Assert.True(ended.IsCompleted);
        }
        finally
        {
            silent.ForEach(s => s.Dispose());
            foreach (var connection in accepted)
            {
                await connection.DisposeAsync();
            }
        }
    }

    public void Dispose() => _container.Dispose();

    private static int ThreadCount()
    {
        using var self = Process.GetCurrentProcess();
        return self.Threads.Count;
    }

    private static async Task SpeakAsync(UnixSocketEndPoint endpoint, Microsoft.AspNetCore.Connections.IConnectionListener listener, List<Microsoft.AspNetCore.Connections.ConnectionContext> accepted)
    {
        using var raw = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await raw.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(endpoint.Path), Token);
        var connection = (await listener.AcceptAsync(Token).AsTask().WaitAsync(Unexpected, Token))!;
        accepted.Add(connection);
        await raw.SendAsync(new byte[] { 7 }, Token);
        var read = await connection.Transport.Input.ReadAsync(Token).AsTask().WaitAsync(Unexpected, Token);
        Assert.Equal(7, read.Buffer.FirstSpan[0]);
        connection.Transport.Input.AdvanceTo(read.Buffer.End);
    }
}

/// <summary>Tests that count this process's threads run alone, not beside tests that start their own.</summary>
[CollectionDefinition(nameof(ThreadCountingCollection), DisableParallelization = true)]
public sealed class ThreadCountingCollection;
