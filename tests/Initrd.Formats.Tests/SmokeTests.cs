using Initrd.Testing;

namespace Initrd.Formats.Tests;

public class SmokeTests
{
    [Fact]
    public void ZstdIsInstalled() => Assert.NotNull(ReferenceTool.Require("zstd", "zstd"));
}
