using Initrd.Apt.Lock;

namespace Initrd.Sdk.Tasks.Common;

/// <summary>Reads packages.lock.json for the build-phase tasks, with coded errors.</summary>
public static class LockFiles
{
    public static PackageLock Read(string path)
    {
        if (!File.Exists(path))
            throw new BuildErrorException(Strings.LockFileMissing, path) { File = path };
        try
        {
            return PackageLock.Read(path);
        }
        catch (InvalidDataException e)
        {
            throw new BuildErrorException(e, path, Strings.LockFileMalformed, path, e.Message);
        }
    }
}
