using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Sandgrain.Transport.Conformance;
using Sandgrain.Transport.Interop;
using Sandgrain.Transport.UnixSocket.Interop;

namespace Sandgrain.Transport.UnixSocket.Tests;

/// <summary>
/// <see cref="UnixSocketTransportOptions.PeerCodeRequirement"/>: the pure parts everywhere, the Security framework
/// check on macOS (sandbox-facts §4.4; "Security of peers", item 12).
/// </summary>
public sealed class CodeSigningRequirementTests(ITestOutputHelper output)
{
    private const string NeedsMacOS = "needs macOS (code-signing requirement: audit tokens and the Security framework)";
    private const string TeamRequirement = "anchor apple generic and certificate leaf[subject.OU] = \"ABCDE12345\"";
    private const int PeerCodeRefusedEventId = 1105;

    private static readonly TimeSpan Unexpected = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public void PeerCodeRequirement_OffMacOS_IsRefusedAtConfigurationTime()
    {
        if (OperatingSystem.IsMacOS())
        {
            Assert.Skip("checks the refusal on systems other than macOS; macOS compiles the requirement instead");
        }

        using var container = new TestContainer();
        var options = new UnixSocketTransportOptions { PeerCodeRequirement = TeamRequirement };
        var e = Assert.Throws<PlatformNotSupportedException>(() => new UnixSocketTransport(container.Container, options));
        Assert.Contains("UnixSocketTransportOptions.PeerCodeRequirement", e.Message, StringComparison.Ordinal);
        Assert.Contains("needs macOS", e.Message, StringComparison.Ordinal);
        Assert.Contains("audit tokens and the Security framework", e.Message, StringComparison.Ordinal);
        Assert.Contains(TeamRequirement, e.Message, StringComparison.Ordinal);

        // Checking paths against macOS's limits does not make the code check possible here.
        options.Platform = SandboxPlatform.MacOS;
        Assert.Throws<PlatformNotSupportedException>(() => new UnixSocketTransport(container.Container, options));
    }

    [Fact]
    public void NoPeerCodeRequirement_IsTheDefault_AndChecksNothing()
    {
        Assert.Null(new UnixSocketTransportOptions().PeerCodeRequirement);
        Assert.Null(CodeSigningRequirement.Create(null));
    }

    [Fact]
    public void RefusalFor_ErrSecCSReqFailed_NamesTheStatusThePidAndTheRequirement()
    {
        var message = CodeSigningRequirement.RefusalMessage("unix:s/7f3a09c1", 4242, TeamRequirement, "SecCodeCheckValidity", CodeSigningRequirement.ErrSecCSReqFailed);
        Assert.Contains("errSecCSReqFailed", message, StringComparison.Ordinal);
        Assert.Contains("-67050", message, StringComparison.Ordinal);
        Assert.Contains("pid 4242", message, StringComparison.Ordinal);
        Assert.Contains(TeamRequirement, message, StringComparison.Ordinal);
        Assert.Contains("SecCodeCheckValidity", message, StringComparison.Ordinal);
        Assert.Contains("unix:s/7f3a09c1", message, StringComparison.Ordinal);
        Assert.Contains("UnixSocketTransportOptions.PeerCodeRequirement", message, StringComparison.Ordinal);
        Assert.Contains("pid unknown", CodeSigningRequirement.RefusalMessage("unix:s/7f3a09c1", null, "never", "SecCodeCheckValidity", -67050), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-67050, "errSecCSReqFailed (OSStatus -67050")]
    [InlineData(-67052, "errSecCSReqInvalid (OSStatus -67052")]
    [InlineData(-67062, "errSecCSUnsigned (OSStatus -67062")]
    [InlineData(-67065, "errSecCSNoSuchCode (OSStatus -67065")]
    [InlineData(-50, "OSStatus -50")]
    public void OSStatus_IsDescribedByItsCSCommonName(int status, string expectedStart) =>
        Assert.StartsWith(expectedStart, CodeSigningRequirement.DescribeStatus(status), StringComparison.Ordinal);

    [Fact]
    public void CompileFailure_NamesTheOptionTheTextTheStatusAndAnExample()
    {
        var message = CodeSigningRequirement.CompileFailureMessage("anchor apple generic and (", -67052);
        Assert.Contains("UnixSocketTransportOptions.PeerCodeRequirement", message, StringComparison.Ordinal);
        Assert.Contains("'anchor apple generic and ('", message, StringComparison.Ordinal);
        Assert.Contains("errSecCSReqInvalid", message, StringComparison.Ordinal);
        Assert.Contains("SecRequirementCreateWithString", message, StringComparison.Ordinal);
        Assert.Contains("certificate leaf[subject.OU]", message, StringComparison.Ordinal);
    }

    [Fact]
    public void AuditToken_Is32Bytes_PidAtWord5_PidVersionAtWord7()
    {
        Assert.Equal(32, AuditToken.Size);
        Assert.Equal(32, Unsafe.SizeOf<AuditToken>());
        Assert.Equal(32, Marshal.SizeOf<AuditToken>());
        Assert.Equal(4, (int)Marshal.OffsetOf<AuditToken>(nameof(AuditToken.Val1)));
        Assert.Equal(20, (int)Marshal.OffsetOf<AuditToken>(nameof(AuditToken.Val5)));
        Assert.Equal(28, (int)Marshal.OffsetOf<AuditToken>(nameof(AuditToken.Val7)));

        var bytes = new byte[32];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 501);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(20), 4242);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(28), 7);
        Assert.True(AuditToken.TryRead(bytes, out var token));
        Assert.Equal(501u, token.EffectiveUserId);
        Assert.Equal(4242, token.ProcessId);
        Assert.Equal(7u, token.ProcessIdVersion);

        // A short answer is refused rather than read with zero words.
        Assert.False(AuditToken.TryRead(bytes.AsSpan(0, 28), out _));
        Assert.False(AuditToken.TryRead([], out _));
    }

    [Fact]
    public async Task RequirementThisProcessSatisfies_LetsTheConnectionThrough_OnBothSides()
    {
        if (!OperatingSystem.IsMacOS())
        {
            Assert.Skip(NeedsMacOS);
        }

        // "always" holds for any validly signed code, so this runs whatever signs the test host; both ends are this
        // process, so the connecting side and the accepting side both check it.
        using var container = new TestContainer();
        var log = new CapturingLog();
        var transport = new UnixSocketTransport(container.Container, new UnixSocketTransportOptions { PeerCodeRequirement = "always" }, log);
        var endpoint = transport.CreateEndPoint(transport.CreateUniqueAddress());
        await using var listener = await transport.BindAsync(endpoint, Token);
        var accept = listener.AcceptAsync(Token).AsTask();

        ConnectionContext client;
        try
        {
            client = await transport.ConnectAsync(endpoint, Token).AsTask().WaitAsync(Unexpected, Token);
        }
        catch (UnauthorizedAccessException e) when (e.Message.Contains("errSecCSUnsigned", StringComparison.Ordinal))
        {
            // Apple silicon signs every binary at least ad hoc; an unsigned host (possible on Intel) fails any requirement.
            Assert.Skip($"the test host is not code-signed, so no requirement can hold for it: {e.Message}");
            throw;
        }

        await using var clientConnection = client;
        var first = await Task.WhenAny(accept, log.Refused).WaitAsync(Unexpected, Token);
        if (first != accept)
        {
            Assert.Fail($"the listener refused this process: {log}");
        }

        await using var server = (await accept)!;

        await Frames.WriteAsync(client.Transport.Output, "ping"u8.ToArray(), Token);
        Assert.Equal("ping"u8.ToArray(), await Frames.ReadAsync(server.Transport.Input, Token));
        await Frames.WriteAsync(server.Transport.Output, "pong"u8.ToArray(), Token);
        Assert.Equal("pong"u8.ToArray(), await Frames.ReadAsync(client.Transport.Input, Token));
        Assert.Equal(Environment.ProcessId, server.Features.Get<IPeerIdentityFeature>()!.ProcessId);
        Assert.False(log.Refused.IsCompleted, $"a refusal was logged: {log}");
    }

    [Fact]
    public async Task RequirementNobodySatisfies_IsRefusedByTheConnectingSide()
    {
        if (!OperatingSystem.IsMacOS())
        {
            Assert.Skip(NeedsMacOS);
        }

        using var container = new TestContainer();
        var serverTransport = new UnixSocketTransport(container.Container);
        var address = serverTransport.CreateUniqueAddress();
        await using var listener = await serverTransport.BindAsync(serverTransport.CreateEndPoint(address), Token);
        var accept = listener.AcceptAsync(Token).AsTask();

        var log = new CapturingLog();
        var clientTransport = new UnixSocketTransport(container.Container, new UnixSocketTransportOptions { PeerCodeRequirement = "never" }, log);
        var e = await Assert.ThrowsAsync<UnauthorizedAccessException>(() => clientTransport.ConnectAsync(clientTransport.CreateEndPoint(address), Token).AsTask().WaitAsync(Unexpected, Token));
        output.WriteLine(e.Message);
        Assert.Contains("'never'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"pid {Environment.ProcessId}", e.Message, StringComparison.Ordinal);
        AssertNamesTheFailure(e);
        Assert.Same(e, await log.Refused.WaitAsync(Unexpected, Token));

        // The listener, which asks for nothing, accepted; the socket it got is closed by the refusing side.
        await using var server = await accept.WaitAsync(Unexpected, Token);
        Assert.NotNull(server);
    }

    [Fact]
    public async Task RequirementNobodySatisfies_IsRefusedByTheAcceptingSide_AndLogged()
    {
        if (!OperatingSystem.IsMacOS())
        {
            Assert.Skip(NeedsMacOS);
        }

        using var container = new TestContainer();
        var log = new CapturingLog();
        var serverTransport = new UnixSocketTransport(container.Container, new UnixSocketTransportOptions { PeerCodeRequirement = "never" }, log);
        var address = serverTransport.CreateUniqueAddress();
        await using var listener = await serverTransport.BindAsync(serverTransport.CreateEndPoint(address), Token);
        var accept = listener.AcceptAsync(Token).AsTask();

        // The client asks for nothing, so its connect succeeds; the listener checks it and refuses.
        var clientTransport = new UnixSocketTransport(container.Container);
        await using var client = await clientTransport.ConnectAsync(clientTransport.CreateEndPoint(address), Token).AsTask().WaitAsync(Unexpected, Token);

        var refusal = await log.Refused.WaitAsync(Unexpected, Token);
        output.WriteLine(log.ToString());
        var e = Assert.IsType<UnauthorizedAccessException>(refusal);
        Assert.Contains("'never'", e.Message, StringComparison.Ordinal);
        AssertNamesTheFailure(e);
        Assert.Contains("never", log.ToString(), StringComparison.Ordinal);
        Assert.False(accept.IsCompleted, "a refused peer was handed to the application");

        // The refused socket is closed: the client's input ends (or fails as reset) instead of hanging.
        try
        {
            Assert.Null(await Frames.ReadAsync(client.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token));
        }
        catch (ConnectionResetException)
        {
            // A reset is an end too.
        }
    }

    [Fact]
    public void UncompilableRequirement_IsRefusedAtConfigurationTime()
    {
        if (!OperatingSystem.IsMacOS())
        {
            Assert.Skip(NeedsMacOS);
        }

        using var container = new TestContainer();
        const string text = "anchor apple generic and (";
        var e = Assert.Throws<ArgumentException>(() => new UnixSocketTransport(container.Container, new UnixSocketTransportOptions { PeerCodeRequirement = text }));
        output.WriteLine(e.Message);
        Assert.Contains("UnixSocketTransportOptions.PeerCodeRequirement", e.Message, StringComparison.Ordinal);
        Assert.Contains($"'{text}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("SecRequirementCreateWithString returned", e.Message, StringComparison.Ordinal);
        Assert.Equal(nameof(UnixSocketTransportOptions.PeerCodeRequirement), e.ParamName);

        // A requirement that compiles is accepted.
        _ = new UnixSocketTransport(container.Container, new UnixSocketTransportOptions { PeerCodeRequirement = TeamRequirement });
    }

    /// <summary>"never" fails the requirement; an unsigned test host fails before it, which names its own status.</summary>
    private static void AssertNamesTheFailure(UnauthorizedAccessException e) =>
        Assert.True(
            e.Message.Contains("SecCodeCheckValidity returned errSecCSReqFailed (OSStatus -67050", StringComparison.Ordinal)
            || e.Message.Contains("errSecCSUnsigned", StringComparison.Ordinal),
            $"the refusal does not name errSecCSReqFailed: {e.Message}");

    /// <summary>A logger factory that keeps every entry and completes <see cref="Refused"/> at the first code-requirement refusal.</summary>
    private sealed class CapturingLog : ILoggerFactory, ILogger
    {
        private readonly ConcurrentQueue<string> _entries = new();
        private readonly TaskCompletionSource<Exception?> _refused = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<Exception?> Refused => _refused.Task;

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            _entries.Enqueue($"[{eventId.Id} {logLevel}] {formatter(state, exception)} {exception?.Message}");
            if (eventId.Id == PeerCodeRefusedEventId)
            {
                _refused.TrySetResult(exception);
            }
        }

        public override string ToString() => string.Join(Environment.NewLine, _entries);
    }
}
