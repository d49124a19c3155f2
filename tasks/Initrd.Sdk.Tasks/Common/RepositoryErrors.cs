using Initrd.Apt.Fetch;
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
}
