using System.Buffers;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.UnixSocket.Tests;

/// <summary>
/// A peer that closes with bytes of ours unread resets the connection, and a reset is a loss, also when it arrives
/// while the receive thread polls: Linux hands a socket's error to the first receive that meets it and then forgets
/// it, so a poll that dropped the error left the next receive an ordinary end of stream (the peer "ended").
/// </summary>
public sealed class UnixSocketResetFaultTests : IDisposable
{
    private const int Rounds = 20;
    private static readonly TimeSpan Unexpected = TimeSpan.FromSeconds(30);
    private readonly TestContainer _container = new();

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PeerThatClosesUnread_RightAfterItsLastMessage_IsReportedLost()
    {
        var transport = new UnixSocketTransport(_container.Container);
        var endpoint = (UnixSocketEndPoint)transport.CreateEndPoint(transport.CreateUniqueAddress());
        await using var listener = await transport.BindAsync(endpoint, Token);
        for (var round = 0; round < Rounds; round++)
        {
            using var raw = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await raw.ConnectAsync(new UnixDomainSocketEndPoint(endpoint.Path), Token);
            await using var connection = (await listener.AcceptAsync(Token).AsTask().WaitAsync(Unexpected, Token))!;

            // Ours, which the peer will never read.
            connection.Transport.Output.Write(new byte[4096]);
            await connection.Transport.Output.FlushAsync(Token);

            // Its last message and its close, back to back: the close lands while our receive thread polls.
            raw.Send([7]);
            raw.Close();

            var read = await connection.Transport.Input.ReadAsync(Token).AsTask().WaitAsync(Unexpected, Token);
            Assert.Equal(7, read.Buffer.FirstSpan[0]);
            connection.Transport.Input.AdvanceTo(read.Buffer.End);
            await ConnectionWaits.ClosedAsync(connection.ConnectionClosed, Unexpected, Token);

            var end = connection.Features.Get<IConnectionEndFeature>()!;
            Assert.True(end.PeerLost, $"round {round}: a peer that closed with our bytes unread was reported as ending cleanly: {end.EndReason}");
        }
    }

    public void Dispose() => _container.Dispose();
}
