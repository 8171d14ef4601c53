using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Sandgrain.Runtime.Invocation;
using Sandgrain.Runtime.Messaging;

namespace Sandgrain.Runtime.Tests;

/// <summary>
/// The bookkeeping of the requests a connection runs, with its answers written to a real socket: a request leaves
/// the table when it finishes, whatever happened to it meanwhile.
/// </summary>
public sealed class IncomingCallsTests
{
    private static readonly TimeSpan Unexpected = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RequestPastItsDeadline_LeavesTheTable_WhenItFinishes()
    {
        // The old table removed a request only if its entry was unchanged; the sweep that cancels an overdue request
        // changes the entry, so such a request stayed behind for the connection's life (and kept its watch ticking).
        await using var pair = await FrameWriterTests.SocketPair.ConnectAsync();
        var clock = new FakeTimeProvider();
        var handler = new HeldHandler();
        var settings = new ConnectionSettings("local", null!, 1 << 20, 64, 64 << 20, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(20), handler, clock, NullLogger.Instance);
        using var writer = new FrameWriter(pair.Client.Transport.Output, settings, () => "peer", _ => { }, _ => { });
        var incoming = new IncomingCalls(settings, writer, () => "peer");
        var header = new RequestHeader(7, RequestFlags.None, 100, "IAny", "key", 1, [], null);

        Assert.True(incoming.TryAdmit(header, 0));
        incoming.Dispatch(header, PooledBuffer.Rent());
        await handler.Entered.WaitAsync(Unexpected, Token);
        Assert.True(incoming.Any);

        clock.Advance(TimeSpan.FromMilliseconds(150));
        incoming.ExpireDue();
        await handler.Cancelled.WaitAsync(Unexpected, Token);

        // The actor ignores its token and answers late: its answer goes, and nothing of it is left behind.
        handler.Finish();
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (incoming.Any)
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), "the request finished but is still in the connection's table");
            await Task.Delay(5, Token);
        }
    }

    /// <summary>Runs one request that enters, sees its cancellation, and finishes only when told to.</summary>
    private sealed class HeldHandler : IIncomingRequestHandler
    {
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _cancelled = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _finish = new(TaskCreationOptions.RunContinuationsAsynchronously);

        internal Task Entered => _entered.Task;

        internal Task Cancelled => _cancelled.Task;

        internal void Finish() => _finish.TrySetResult();

        public async ValueTask<PooledBuffer> InvokeAsync(RequestHeader header, PooledBuffer arguments, CancellationToken cancellationToken)
        {
            arguments.Dispose();
            cancellationToken.Register(() => _cancelled.TrySetResult());
            _entered.TrySetResult();
            await _finish.Task.ConfigureAwait(false);
            return PooledBuffer.Rent();
        }
    }
}
