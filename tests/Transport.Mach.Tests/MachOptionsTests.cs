namespace Sandgrain.Transport.Mach.Tests;

/// <summary>Options are checked when the transport is configured, with messages that name the option and its range.</summary>
public sealed class MachOptionsTests
{
    [Fact]
    public void Defaults_AreValid() => new MachTransportOptions().Validate();

    [Theory]
    [InlineData(nameof(MachTransportOptions.QueueLimit), 0)]
    [InlineData(nameof(MachTransportOptions.QueueLimit), 1025)]
    [InlineData(nameof(MachTransportOptions.Backlog), 0)]
    [InlineData(nameof(MachTransportOptions.Backlog), 5000)]
    [InlineData(nameof(MachTransportOptions.MaxReadBufferSize), 100)]
    [InlineData(nameof(MachTransportOptions.MaxWriteBufferSize), 100)]
    public void OutOfRangeValues_AreRefused_NamingTheOption(string option, int value)
    {
        var options = new MachTransportOptions();
        typeof(MachTransportOptions).GetProperty(option)!.SetValue(options, value);
        var e = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.Equal(option, e.ParamName);
        Assert.Contains("MachTransportOptions." + option, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Timeouts_MustBePositive()
    {
        Assert.Throws<ArgumentOutOfRangeException>(new MachTransportOptions { ConnectTimeout = TimeSpan.Zero }.Validate);
        Assert.Throws<ArgumentOutOfRangeException>(new MachTransportOptions { StaleNameTimeout = TimeSpan.FromSeconds(-1) }.Validate);
        new MachTransportOptions { StaleNameTimeout = TimeSpan.Zero, QueueLimit = 1024, Backlog = 1 }.Validate();
    }
}
