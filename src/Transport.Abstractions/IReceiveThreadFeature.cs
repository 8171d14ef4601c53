namespace Sandgrain.Transport;

/// <summary>
/// Running the application's reader on the connection's receive thread, inside its flush: no thread hop per
/// message. Offered by connections whose receive loop can be handed to a new thread while the application holds
/// one (the Unix-socket and shared-memory transports); off until <see cref="ReadInline"/>, so that other software
/// over the transports reads on the thread pool as it expects.
/// </summary>
public interface IReceiveThreadFeature
{
    /// <summary>
    /// From now on the reader's continuations run on the receive thread. Only for a reader that never blocks, or that
    /// watches for code holding that thread and then calls <see cref="TryReplaceStalledReceiver"/> (the Sandgrain
    /// runtime does both): otherwise code that blocks in the reader stops the connection's receiving for good.
    /// </summary>
    void ReadInline();

    /// <summary>
    /// When the receive thread is inside a flush of the input — running the reader inline — a new receive thread
    /// takes over receiving, and the held one, once the application lets it go, returns without touching the
    /// connection again. False when no receive thread is inside a flush (nothing to replace).
    /// </summary>
    bool TryReplaceStalledReceiver();
}
