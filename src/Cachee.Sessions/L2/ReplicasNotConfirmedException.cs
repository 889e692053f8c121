namespace Cachee.Sessions.L2;

/// <summary>
/// A write the master applied but fewer replicas confirmed in time than <see cref="CacheeOptions.MinReplicasToAcknowledge"/>
/// asks for. Redis answered, so this is not a failure to reach it: it fails the write (as <see cref="CacheUnavailableException"/>)
/// without counting toward the circuit breaker, which would otherwise refuse reads the master can serve.
/// </summary>
internal sealed class ReplicasNotConfirmedException(string message) : Exception(message);
