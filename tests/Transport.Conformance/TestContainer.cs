namespace Sandgrain.Transport.Conformance;

/// <summary>A fresh group container in a short temporary folder, deleted afterwards.</summary>
public sealed class TestContainer : IDisposable
{
    /// <summary>The app group the tests use.</summary>
    public const string GroupIdText = "ABCDE12345.com.example.tests";

    /// <summary>Creates a container under <paramref name="parent"/> (default: the temp folder) with an optional extra path.</summary>
    public TestContainer(string? parent = null, string? subPath = null)
    {
        Root = Path.Combine(parent ?? "/tmp", "sg-" + Guid.NewGuid().ToString("N")[..10]);
        var directory = subPath is null ? Root : Path.Combine(Root, subPath);
        Container = GroupContainer.Open(GroupId.Parse(GroupIdText), directory);
    }

    /// <summary>The top folder created for this container.</summary>
    public string Root { get; }

    /// <summary>The opened container.</summary>
    public GroupContainer Container { get; }

    /// <summary>Arguments that let the test peer open the same container.</summary>
    public string[] PeerArguments(string transport) => ["--transport", transport, "--container", Container.Path, "--group", GroupIdText];

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A peer may still be exiting; the folder is in the temp directory.
        }
    }
}
