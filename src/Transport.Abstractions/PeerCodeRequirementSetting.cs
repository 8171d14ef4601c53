namespace Sandgrain.Transport;

/// <summary>
/// The code requirement a host's peers must satisfy (the Unix-socket transport's option, which the shared-memory
/// transport takes over), registered where every transport of the host can see it: a transport that cannot check
/// it must not carry connections that would bypass it.
/// </summary>
/// <param name="Requirement">The requirement's text; null when none is set.</param>
internal sealed record PeerCodeRequirementSetting(string? Requirement);
