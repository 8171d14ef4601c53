using Microsoft.AspNetCore.Connections;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// One listener's two budgets: connections that have proven themselves (<see cref="SandgrainOptions.MaxConnections"/>)
/// and connections still in their handshake (<see cref="SandgrainOptions.MaxPendingHandshakes"/>). Separate, so that
/// peers that connect and say nothing fill only the second, and when it is full the one that has waited longest
/// is dropped to make room: a silent peer can delay a group member's connection by a handshake, never refuse it.
/// </summary>
internal sealed class InboundSlots(int maxAuthenticated, int maxPending)
{
    private readonly Lock _lock = new();
    private readonly LinkedList<ConnectionContext> _pending = new();
    private int _authenticated;

    internal int Authenticated => Volatile.Read(ref _authenticated);

    /// <summary>False when the authenticated budget is full (refuse at once); otherwise the connection's place in the handshake queue.</summary>
    internal bool TryBeginHandshake(ConnectionContext connection, out LinkedListNode<ConnectionContext>? place, out ConnectionContext? dropped)
    {
        dropped = null;
        place = null;
        if (Authenticated >= maxAuthenticated)
        {
            return false;
        }

        lock (_lock)
        {
            if (_pending.Count >= maxPending)
            {
                dropped = _pending.First!.Value;
                _pending.RemoveFirst();
            }

            place = _pending.AddLast(connection);
        }

        return true;
    }

    /// <summary>The handshake ended (either way); it no longer counts as pending.</summary>
    internal void EndHandshake(LinkedListNode<ConnectionContext> place)
    {
        lock (_lock)
        {
            if (place.List is not null)
            {
                _pending.Remove(place);
            }
        }
    }

    /// <summary>Takes an authenticated slot; false when the budget filled meanwhile.</summary>
    internal bool TryAuthenticate()
    {
        if (Interlocked.Increment(ref _authenticated) <= maxAuthenticated)
        {
            return true;
        }

        Interlocked.Decrement(ref _authenticated);
        return false;
    }

    internal void Release() => Interlocked.Decrement(ref _authenticated);
}
