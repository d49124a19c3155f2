using Initrd.Formats.Common;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Common;

public class StagedOutputTests
{
    static string[] Leftovers(string directory) => Directory.GetFileSystemEntries(directory, ".*.tmp-*");

    static void WaitUntilNoLeftovers(string directory)
    {
        // The replaced file is removed on another thread.
        for (var i = 0; i < 100 && Leftovers(directory).Length > 0; i++) Thread.Sleep(50);
        Assert.Empty(Leftovers(directory));
    }

    [Fact]
    public void ATargetIsReplacedWholeAndTheOldFileGoes()
    {
        using var temp = new TempDirectory("staged");
        var target = temp.Combine("image.efi");
        StagedOutput.Write(target, t => File.WriteAllText(t, "first"));
        Assert.Equal("first", File.ReadAllText(target));
        var result = StagedOutput.Write(target, t => { File.WriteAllText(t, "second"); return 42; });
        Assert.Equal(42, result);
        Assert.Equal("second", File.ReadAllText(target));
        WaitUntilNoLeftovers(temp.Path);
    }

    [Fact]
    public void AWriterThatFailsLeavesTheOldTargetAndNoTemporary()
    {
        using var temp = new TempDirectory("staged");
        var target = temp.Combine("image.efi");
        File.WriteAllText(target, "old");
        Assert.Throws<IOException>(() => StagedOutput.Write(target, t =>
        {
            File.WriteAllText(t, "half");
            throw new IOException("disk full");
        }));
        Assert.Equal("old", File.ReadAllText(target));
        Assert.Empty(Leftovers(temp.Path));
    }

    [Fact]
    public void LeftoversOfEndedWritersAreRemovedByTheNextOne()
    {
        using var temp = new TempDirectory("staged");
        var target = temp.Combine("image.efi");
        var dead = temp.Combine($".image.efi.tmp-{int.MaxValue}-0123");   // no such process
        File.WriteAllText(dead, "debris");
        StagedOutput.Write(target, t => File.WriteAllText(t, "new"));
        Assert.False(File.Exists(dead));
        Assert.Equal("new", File.ReadAllText(target));
    }
}
