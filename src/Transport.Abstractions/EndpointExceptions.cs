namespace Sandgrain.Transport;

/// <summary>Nothing listens at an address: no such endpoint, or one left behind by a process that died.</summary>
public sealed class EndpointNotFoundException : IOException
{
    /// <summary>Creates the exception.</summary>
    public EndpointNotFoundException(string address, string message, Exception? inner = null)
        : base(message, inner)
    {
        Address = address;
    }

    /// <summary>The address that was tried, in its textual form.</summary>
    public string Address { get; }
}

/// <summary>An address is already served by a live listener, so binding it again would steal it.</summary>
public sealed class EndpointInUseException : IOException
{
    /// <summary>Creates the exception.</summary>
    public EndpointInUseException(string address, string message)
        : base(message)
    {
        Address = address;
    }

    /// <summary>The address that was asked for, in its textual form.</summary>
    public string Address { get; }
}
