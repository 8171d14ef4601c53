using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Sandgrain.Transport.Mach;

/// <summary>
/// A Mach service endpoint, made by <see cref="MachTransport.CreateEndPoint"/> from an address such as
/// <c>mach:ABCDE12345.com.example.sg.7f3a09c1</c>. The value is the full bootstrap name, already checked
/// against the App Sandbox's app-group prefix rule and the 127-byte bootstrap name limit.
/// </summary>
public sealed class MachEndPoint : EndPoint
{
    /// <summary>The segment between the app group id and the unique part of generated names.</summary>
    internal const string SandgrainSegment = "sg";

    private MachEndPoint(TransportAddress address)
    {
        Address = address;
    }

    /// <summary>The address, <c>mach:&lt;service name&gt;</c>.</summary>
    public TransportAddress Address { get; }

    /// <summary>The full bootstrap service name, <c>&lt;app group id&gt;.&lt;name&gt;</c>.</summary>
    public string ServiceName => Address.Value;

    /// <inheritdoc />
    public override AddressFamily AddressFamily => AddressFamily.Unspecified;

    /// <inheritdoc />
    public override string ToString() => Address.ToString();

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is MachEndPoint other && string.Equals(other.ServiceName, ServiceName, StringComparison.Ordinal);

    /// <inheritdoc />
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(ServiceName);

    /// <summary>Checks an address against the Mach transport's rules; platform-independent so that the rules hold everywhere.</summary>
    /// <exception cref="ArgumentException">The address has another scheme.</exception>
    /// <exception cref="SandboxNameException">The name lacks the app-group prefix or is longer than 127 bytes.</exception>
    internal static MachEndPoint Create(GroupId group, TransportAddress address)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(address);
        if (address.Scheme != MachTransport.AddressScheme)
        {
            throw new ArgumentException(
                $"The Mach transport cannot serve '{address}'; its addresses are 'mach:<app group id>.<name>', e.g. 'mach:{group}.{SandgrainSegment}.7f3a09c1'.",
                nameof(address));
        }

        AddressRules.RequireName(address);
        SandboxNameRules.CheckMachServiceName(group, address.Value);
        return new MachEndPoint(address);
    }

    /// <summary><c>mach:&lt;group-id&gt;.sg.&lt;8 hex digits&gt;</c>: a fresh name under the app group's prefix.</summary>
    internal static TransportAddress CreateUniqueAddress(GroupId group)
    {
        ArgumentNullException.ThrowIfNull(group);
        return TransportAddress.Create(
            MachTransport.AddressScheme,
            group.Value + "." + SandgrainSegment + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)));
    }
}
