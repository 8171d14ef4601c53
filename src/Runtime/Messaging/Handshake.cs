using System.Buffers;
using Microsoft.AspNetCore.Connections;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Messaging;

/// <summary>The peer turned the connection away before its hello (a goodbye in its place), with its reason.</summary>
internal sealed class PeerRefusalException(string reason) : Exception("the peer refused the connection: " + reason)
{
    internal string Reason { get; } = reason;
}

/// <summary>
/// The start of every connection: a hello each way (magic, version, silo id, 32-byte nonce), then the proofs that
/// each side knows the group secret — the initiator's first; the acceptor answers with its own only once the
/// initiator's has checked out, so a silo signs nothing for a peer that has not proven itself. Each proof binds its
/// role and the whole exchange (<see cref="Security.GroupSecret.Proof"/>), and a peer that claims the local silo's
/// own id is refused. Nothing else is read before it completes, and everything it reads is bounded by
/// <see cref="Protocol.MaxHelloPayload"/> and <see cref="ConnectionSettings.HandshakeTimeout"/>.
/// </summary>
internal static class Handshake
{
    /// <summary>Runs the handshake; returns the peer's proven silo id. Disposes the connection when it fails.</summary>
    /// <param name="connection">The new connection.</param>
    /// <param name="settings">This silo's id, secret and handshake timeout.</param>
    /// <param name="expectedSiloId">The silo the initiator dialled (from its registry record); null on the accepting side.</param>
    /// <param name="initiator">True on the side that dialled the connection.</param>
    /// <param name="admit">
    /// The acceptor's last word, asked once the initiator has proven itself and before this side's proof is sent
    /// (so that a peer holding a proof always holds a place): false leaves the connection open, unanswered, for
    /// the caller to refuse, and the handshake returns null.
    /// </param>
    /// <param name="cancellationToken">Ends the handshake early.</param>
    /// <returns>The peer's silo id; null when <paramref name="admit"/> said no.</returns>
    /// <exception cref="ProtocolViolationException">The peer is not a group member, not the expected silo, or broke the protocol.</exception>
    /// <exception cref="PeerRefusalException">The peer refused the connection, with its reason.</exception>
    internal static async Task<string?> RunAsync(ConnectionContext connection, ConnectionSettings settings, string? expectedSiloId, bool initiator, Func<bool>? admit, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.HandshakeTimeout);
        try
        {
            var nonce = Security.GroupSecret.NewNonce();
            Protocol.WriteFrame(connection.Transport.Output, FrameKind.Hello, Protocol.EncodeHello(settings.LocalSiloId, nonce), default);
            try
            {
                await connection.Transport.Output.FlushAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ConnectionResetException or ConnectionAbortedException or InvalidOperationException)
            {
                // A listener at its limit refuses before reading our hello and may close first: its reason is
                // still in our input, and says more than the failed write.
                throw (Exception?)await ReadRefusalAsync(connection).ConfigureAwait(false) ?? new ProtocolViolationException($"the connection closed during the handshake: {e.Message}", e);
            }

            var (remote, peerNonce) = Protocol.DecodeHello(await ReadFrameAsync(connection, FrameKind.Hello, timeout.Token).ConfigureAwait(false));
            if (remote == settings.LocalSiloId)
            {
                throw new ProtocolViolationException($"a hello that claims this silo's own id ({remote}); a silo never connects to itself, so the handshake is reflected or relayed");
            }

            if (expectedSiloId is not null && remote != expectedSiloId)
            {
                throw new ProtocolViolationException($"the peer identified itself as silo {remote}, but the registry record it was reached through belongs to silo {expectedSiloId}");
            }

            var (initiatorId, initiatorNonce, acceptorId, acceptorNonce) = initiator
                ? (settings.LocalSiloId, nonce, remote, peerNonce)
                : (remote, peerNonce, settings.LocalSiloId, nonce);
            var (own, peers) = initiator
                ? (Security.HandshakeRole.Initiator, Security.HandshakeRole.Acceptor)
                : (Security.HandshakeRole.Acceptor, Security.HandshakeRole.Initiator);
            if (initiator)
            {
                await SendProofAsync(connection, settings.Secret.Proof(own, initiatorId, initiatorNonce, acceptorId, acceptorNonce), timeout.Token).ConfigureAwait(false);
            }

            var proof = await ReadFrameAsync(connection, FrameKind.Proof, timeout.Token).ConfigureAwait(false);
            if (!settings.Secret.Verify(proof.ToArray(), peers, initiatorId, initiatorNonce, acceptorId, acceptorNonce))
            {
                throw new ProtocolViolationException($"a proof of app-group membership that does not check out (silo {remote} does not know this group's secret, or its proof was made for another connection)");
            }

            if (!initiator)
            {
                if (admit is not null && !admit())
                {
                    return null;
                }

                await SendProofAsync(connection, settings.Secret.Proof(own, initiatorId, initiatorNonce, acceptorId, acceptorNonce), timeout.Token).ConfigureAwait(false);
            }

            return remote;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new ProtocolViolationException($"no complete handshake within {settings.HandshakeTimeout.TotalSeconds:0.#} s (Sandgrain:HandshakeTimeout)");
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task SendProofAsync(ConnectionContext connection, byte[] proof, CancellationToken cancellationToken)
    {
        Protocol.WriteFrame(connection.Transport.Output, FrameKind.Proof, proof, default);
        await connection.Transport.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Turns a new connection away with its reason (a goodbye in place of a hello), then closes it.</summary>
    internal static async Task RefuseAsync(ConnectionContext connection, string reason)
    {
        try
        {
            using var encoded = PooledBuffer.Rent();
            Protocol.EncodeGoodbye(encoded, reason);
            Protocol.WriteFrame(connection.Transport.Output, FrameKind.Goodbye, encoded.WrittenMemory.Span, default);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await connection.Transport.Output.FlushAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ConnectionResetException or ConnectionAbortedException or InvalidOperationException)
        {
            // A peer that does not read its refusal is closed all the same.
        }
        finally
        {
            // Closed, not aborted: the refusal stays readable for the peer after the connection ends. The peer is given
            // until it has read it and closed its end (at most a second: a peer that never closes gets no more of our
            // time than that); the disposal then sends whatever is still queued, within the transport's close timeout.
            await connection.Transport.Output.CompleteAsync().ConfigureAwait(false);
            await WaitClosedAsync(connection, TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async Task WaitClosedAsync(ConnectionContext connection, TimeSpan within)
    {
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = connection.ConnectionClosed.Register(static s => ((TaskCompletionSource)s!).TrySetResult(), closed);
        await Task.WhenAny(closed.Task, Task.Delay(within)).ConfigureAwait(false);
    }

    /// <summary>The refusal a peer sent before closing, if it is in the input within a moment; otherwise null.</summary>
    private static async Task<PeerRefusalException?> ReadRefusalAsync(ConnectionContext connection)
    {
        using var moment = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        try
        {
            await ReadFrameAsync(connection, FrameKind.Hello, moment.Token).ConfigureAwait(false);
            return null;
        }
        catch (PeerRefusalException refusal)
        {
            return refusal;
        }
        catch (Exception e) when (e is ProtocolViolationException or OperationCanceledException or IOException or ConnectionResetException or ConnectionAbortedException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Reads one handshake frame of the expected kind (bounded in size).</summary>
    private static async Task<ReadOnlySequence<byte>> ReadFrameAsync(ConnectionContext connection, FrameKind expected, CancellationToken cancellationToken)
    {
        var input = connection.Transport.Input;
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (Protocol.TryReadFrame(ref buffer, Protocol.MaxHelloPayload, out var kind, out var payload))
            {
                if (kind == FrameKind.Goodbye)
                {
                    throw new PeerRefusalException(Protocol.DecodeGoodbye(payload));
                }

                if (kind != expected)
                {
                    throw new ProtocolViolationException($"a {kind} frame where a {expected} frame belongs in the handshake");
                }

                var copy = new ReadOnlySequence<byte>(payload.ToArray());
                input.AdvanceTo(buffer.Start);
                return copy;
            }

            if (result.IsCompleted)
            {
                throw new ProtocolViolationException($"the peer closed the connection before its {expected}");
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }
}
