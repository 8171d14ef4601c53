using Sandgrain.Transport.Conformance;
using static Sandgrain.Transport.Mach.Interop.MachAbi;

namespace Sandgrain.Transport.Mach.Tests;

/// <summary>Bootstrap and kernel return codes become exceptions that say what happened and what to change.</summary>
public sealed class MachErrorMappingTests
{
    private static readonly GroupId Group = GroupId.Parse(TestContainer.GroupIdText);
    private static readonly MachEndPoint EndPoint = MachEndPoint.Create(Group, TransportAddress.Parse($"mach:{TestContainer.GroupIdText}.sg.7f3a09c1"));

    [Fact]
    public void NotPrivileged_1100_OnCheckIn_IsUnauthorized_AndNamesTheRequiredPrefix()
    {
        var e = Assert.IsType<UnauthorizedAccessException>(MachErrors.ForCheckIn(1100, EndPoint, Group));
        Assert.Contains($"'{TestContainer.GroupIdText}.'", e.Message, StringComparison.Ordinal);
        Assert.Contains("app group in the configuration", e.Message, StringComparison.Ordinal);
        Assert.Contains(EndPoint.ServiceName, e.Message, StringComparison.Ordinal);
        Assert.Contains("1100", e.Message, StringComparison.Ordinal);
        Assert.Contains("com.apple.security.application-groups", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NotPrivileged_1100_OnLookUp_IsUnauthorized()
    {
        var e = Assert.IsType<UnauthorizedAccessException>(MachErrors.ForLookUp(1100, EndPoint, Group));
        Assert.Contains("look up", e.Message, StringComparison.Ordinal);
        Assert.Contains($"'{TestContainer.GroupIdText}.'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(BOOTSTRAP_NAME_IN_USE)]
    [InlineData(BOOTSTRAP_SERVICE_ACTIVE)]
    public void NameInUse_1101_IsEndpointInUse_ByAnotherOrAStaleInstance(int code)
    {
        var e = Assert.IsType<EndpointInUseException>(MachErrors.ForCheckIn(code, EndPoint, Group));
        Assert.Equal(EndPoint.ToString(), e.Address);
        Assert.Contains("in use", e.Message, StringComparison.Ordinal);
        Assert.Contains("another instance", e.Message, StringComparison.Ordinal);
        Assert.Contains("stale", e.Message, StringComparison.Ordinal);
        Assert.Contains(code.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InUse_WithoutAskingLaunchd_SaysWhoHoldsIt_AndNoCode()
    {
        var e = MachErrors.InUse(EndPoint, "a listener in this process", code: null);
        Assert.Equal($"{EndPoint} is in use: the Mach name '{EndPoint.ServiceName}' is already registered by a listener in this process. Stop that process, or use another address.", e.Message);
    }

    [Fact]
    public void UnknownService_1102_IsEndpointNotFound_NamingTheAddress()
    {
        var e = Assert.IsType<EndpointNotFoundException>(MachErrors.ForLookUp(1102, EndPoint, Group));
        Assert.Equal(EndPoint.ToString(), e.Address);
        Assert.Contains(EndPoint.ToString(), e.Message, StringComparison.Ordinal);
        Assert.Contains("no process has registered", e.Message, StringComparison.Ordinal);
        Assert.Contains("different app group", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OtherCodes_AreIOExceptions_WithTheSymbolicName()
    {
        var e = Assert.IsType<IOException>(MachErrors.ForLookUp(BOOTSTRAP_NO_MEMORY, EndPoint, Group));
        Assert.Contains("BOOTSTRAP_NO_MEMORY (1105)", e.Message, StringComparison.Ordinal);
        Assert.IsType<IOException>(MachErrors.ForCheckIn(KERN_INVALID_ARGUMENT, EndPoint, Group));
    }

    [Fact]
    public void HolderExited_IsEndpointNotFound()
    {
        var e = MachErrors.HolderExited(EndPoint);
        Assert.Equal(EndPoint.ToString(), e.Address);
        Assert.Contains("exited", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(MACH_SEND_INVALID_DEST, "MACH_SEND_INVALID_DEST (0x10000003)")]
    [InlineData(MACH_SEND_TIMED_OUT, "MACH_SEND_TIMED_OUT (0x10000004)")]
    [InlineData(MACH_RCV_TIMED_OUT, "MACH_RCV_TIMED_OUT (0x10004003)")]
    [InlineData(MACH_RCV_TOO_LARGE, "MACH_RCV_TOO_LARGE (0x10004004)")]
    [InlineData(KERN_INVALID_ARGUMENT, "KERN_INVALID_ARGUMENT (4)")]
    [InlineData(BOOTSTRAP_UNKNOWN_SERVICE, "BOOTSTRAP_UNKNOWN_SERVICE (1102)")]
    [InlineData(0x7777, "error 30583 (0x00007777)")]
    public void Describe_NamesTheCode(int code, string expected) => Assert.Equal(expected, MachErrors.Describe(code));
}
