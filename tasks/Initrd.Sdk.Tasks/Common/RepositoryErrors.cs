using Initrd.Apt.Fetch;
using Initrd.Apt.Lock;
using Initrd.Apt.Repositories;

namespace Initrd.Sdk.Tasks.Common;

/// <summary>Maps the repository layer's failures to coded MSBuild errors.</summary>
public static class RepositoryErrors
{
    public static BuildErrorException ToBuildError(RepositoryException e, string? file) => new(e, file, e.Kind switch
    {
        RepositoryErrorKind.Unreachable => Strings.RepositoryUnreachable,
        RepositoryErrorKind.NotFound => Strings.RepositoryFileNotFound,
        RepositoryErrorKind.SignatureInvalid or RepositoryErrorKind.Unsigned or RepositoryErrorKind.UnknownSigningKey
            or RepositoryErrorKind.SigningKeyExpired or RepositoryErrorKind.KeyringMissing or RepositoryErrorKind.SuiteMismatch
            => Strings.RepositorySignatureRejected,
        RepositoryErrorKind.Expired => Strings.RepositoryMetadataExpired,
        RepositoryErrorKind.HashMismatch or RepositoryErrorKind.SizeMismatch => Strings.RepositoryHashMismatch,
        RepositoryErrorKind.Malformed => Strings.RepositoryMalformed,
        RepositoryErrorKind.ToolMissing => Strings.HostToolMissing,
        RepositoryErrorKind.NoRepositoryConfigured => Strings.NoRepositoryConfigured,
        RepositoryErrorKind.NotCached => Strings.NotCachedOffline,
        _ => Strings.RepositoryUnusable,
    }, e.Message) { File = file };

    /// <summary>
    /// A package named by the lock could not be fetched: gone from the mirror, a different file than the lock pins,
    /// or a transport problem. The lock file is the location: it is what names the package.
    /// </summary>
    public static IEnumerable<BuildErrorException> ForPackages(PackageFetchException e, PackageLock locked, string lockPath) =>
        e.Failures.Select(failure =>
        {
            var p = locked.Packages.FirstOrDefault(x => x.DownloadUri.AbsoluteUri == failure.Location);
            if (p is null) return ToBuildError(failure, lockPath);
            return failure.Kind switch
            {
                RepositoryErrorKind.NotFound => new BuildErrorException(failure, lockPath, Strings.PackageVanished, p.Name, p.Version, p.Architecture, failure.Location),
                RepositoryErrorKind.HashMismatch or RepositoryErrorKind.SizeMismatch =>
                    new BuildErrorException(failure, lockPath, Strings.PackageDiffersFromLock, p.Name, p.Version, failure.Location, p.Sha256, p.Size),
                _ => new BuildErrorException(failure, lockPath, Strings.PackageFetchFailed, p.Name, p.Version, failure.Message),
            };
        });
}
