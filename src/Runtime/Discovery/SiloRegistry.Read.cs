using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sandgrain.Transport;

namespace Sandgrain.Runtime.Discovery;

/// <summary>Reading records: anything in the folder may be garbage or hostile, and is skipped with one warning.</summary>
internal sealed partial class SiloRegistry
{
    private SiloRecord? TryRead(string file)
    {
        string? problem;
        SiloRecord? record = null;
        FileInfo info = new(file);
        try
        {
            // Not followed if a link, not waited on if a FIFO, not read if over the limit (style.md item 9).
            var bytes = UntrustedFile.ReadAll(file, MaxRecordBytes);
            record = JsonSerializer.Deserialize(bytes, RegistryJsonContext.Default.SiloRecord);
            problem = record switch
            {
                null => "it holds no record",
                { SchemaVersion: > SiloRecord.CurrentSchemaVersion } => $"it has schema version {record.SchemaVersion}, newer than this build's {SiloRecord.CurrentSchemaVersion}",
                { SchemaVersion: < 1 } => $"it has schema version {record.SchemaVersion}",
                _ when !SiloRecord.IsValidSiloId(record.SiloId) => $"its silo id '{record.SiloId}' is malformed",
                _ when System.IO.Path.GetFileNameWithoutExtension(file) != record.SiloId => $"its silo id {record.SiloId} does not match its file name",

                // JSON null is accepted by the deserializer for non-nullable members; a reader must not meet it.
                { ActorTypes: null } or { Addresses: null } => "its actorTypes or addresses is null",
                _ when record.ActorTypes.Any(t => t is null or { Length: 0 or > 1024 }) => "an entry of its actorTypes is empty, null or over 1024 characters",
                _ when record.Addresses.Any(a => a is null || !TransportAddress.TryParse(a, out _, out _)) => "an entry of its addresses is not a transport address",
                { Helper: { } helper } when !HelperLauncher.IsValidHelperName(helper) => $"its helper name '{helper}' is malformed",
                _ => null,
            };
        }
        catch (FileNotFoundException)
        {
            return null; // Removed while listing.
        }
        catch (UntrustedFileException e)
        {
            problem = e.Message;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            problem = $"it does not parse: {e.Message}";
        }

        if (problem is null)
        {
            _warned.TryRemove(file, out _);
            return record;
        }

        // One warning per file version, not one per poll.
        var stamp = info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, 0L);
        if (!_warned.TryGetValue(file, out var seen) || seen != stamp)
        {
            _warned[file] = stamp;
            DiscoveryLog.BadRecord(_logger, file, problem);
        }

        return null;
    }
}
