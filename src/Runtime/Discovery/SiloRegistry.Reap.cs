using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sandgrain.Transport;

namespace Sandgrain.Runtime.Discovery;

/// <summary>Reaping: dead silos leave, with their locks and the endpoint files their transports made.</summary>
internal sealed partial class SiloRegistry
{
    /// <summary>
    /// Removes the records of dead silos with their locks and the socket and segment files they listened on,
    /// and lock files left without a record. Returns the records removed.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Every lock file is deleted only by a holder of its lock (<see cref="FileLock.DeleteAndRelease"/>). A silo
    /// publishing takes its lock exclusively before it writes its record and holds it until its record is gone, so it
    /// can never lose its lock file to a reaper: while it holds the lock nobody else can, and a lock file deleted
    /// between its open and its lock is noticed by <see cref="FileLock.TryAcquire(string)"/>, which opens the path again.
    /// </para>
    /// <para>
    /// A dead silo is removed holding its lock <em>shared</em> (<see cref="FileLock.TryAcquireShared"/>): that proves
    /// nobody holds it exclusively, so the silo is gone for good (its id is never used again), while readers checking
    /// it meanwhile still see it dead — an exclusive hold would make it look alive to them until its record is gone.
    /// A lock file with no record beside it may be a silo's that is about to publish, so it is deleted only held
    /// exclusively, after checking, holding it, that still no record stands beside it.
    /// </para>
    /// </remarks>
    public IReadOnlyList<SiloRecord> Reap()
    {
        var folder = Path;
        var reaped = new List<SiloRecord>();
        foreach (var entry in Snapshot().Where(e => !e.IsAlive))
        {
            try
            {
                if (ReapDead(folder, entry.Record))
                {
                    reaped.Add(entry.Record);
                    DiscoveryLog.Reaped(_logger, entry.Record.SiloId, entry.Record.Helper, entry.Record.ProcessId);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                DiscoveryLog.ReapFailed(_logger, entry.Record.SiloId, e.Message);
            }
        }

        foreach (var lockFile in Directory.EnumerateFiles(folder, "*.lock"))
        {
            var id = System.IO.Path.GetFileNameWithoutExtension(lockFile);
            if (!SiloRecord.IsValidSiloId(id) || File.Exists(RecordPath(folder, id)))
            {
                continue;
            }

            try
            {
                // Busy means in use: a silo between taking its lock and writing its record, or another reaper.
                using var held = FileLock.TryAcquire(lockFile);
                if (held is not null && !File.Exists(RecordPath(folder, id)))
                {
                    held.DeleteAndRelease();
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                DiscoveryLog.ReapFailed(_logger, id, e.Message);
            }
        }

        return reaped;
    }

    /// <summary>Removes a dead silo's record, endpoint files and lock, holding its lock shared; false when it is not dead, or another reaper removed it.</summary>
    private bool ReapDead(string folder, SiloRecord record)
    {
        // Shared: readers checking the lock at this moment neither stop this nor see the silo alive because of it.
        using var held = FileLock.TryAcquireShared(LockPath(folder, record.SiloId));
        if (held is null)
        {
            return false;
        }

        if (!File.Exists(RecordPath(folder, record.SiloId)))
        {
            // Another reaper removed it first; the lock file this made (or found) has no record to keep alive.
            held.DeleteAndRelease();
            return false;
        }

        TryDelete(RecordPath(folder, record.SiloId));
        foreach (var address in record.Addresses)
        {
            RemoveEndpointFiles(address);
        }

        held.DeleteAndRelease();
        return true;
    }

    private void RemoveEndpointFiles(string address)
    {
        if (!TransportAddress.TryParse(address, out var parsed, out _))
        {
            return;
        }

        if (!_transports.TryGetValue(parsed.Scheme, out var transport))
        {
            return;
        }

        try
        {
            transport.RemoveStaleEndpoint(parsed);
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
        {
            // A record is anyone's to write: an address that breaks its transport's rules is not followed.
            DiscoveryLog.BadRecord(_logger, parsed.ToString(), $"its address could not be cleaned up: {e.Message}");
        }
    }
}
