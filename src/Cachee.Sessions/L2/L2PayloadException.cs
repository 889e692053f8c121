namespace Cachee.Sessions.L2;

/// <summary>Thrown by an L2 store when a stored entry cannot be read (a foreign or corrupted payload).</summary>
internal sealed class L2PayloadException(string message) : Exception(message);
