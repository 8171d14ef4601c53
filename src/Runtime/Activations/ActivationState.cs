namespace Sandgrain.Runtime.Activations;

/// <summary>Where an activation is in its life. It only ever moves forward.</summary>
internal enum ActivationState
{
    /// <summary>Created; <c>OnActivateAsync</c> has not completed yet. Requests enter and wait for it.</summary>
    Activating,

    /// <summary>Serving requests.</summary>
    Active,

    /// <summary>No request may enter any more; the ones inside finish, then <c>OnDeactivateAsync</c> runs.</summary>
    Deactivating,

    /// <summary>Deactivated and out of the directory; callers that waited go to a new activation.</summary>
    Gone,
}
