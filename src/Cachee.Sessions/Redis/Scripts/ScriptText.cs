namespace Cachee.Sessions.Redis.Scripts;

/// <summary>A Lua script and its SHA-1, as <c>EVALSHA</c> names it (computed once).</summary>
internal sealed class ScriptText
{
    public ScriptText(string lua)
    {
        Lua = lua;
        // SHA-1 is what Redis names scripts by; nothing here is a security use.
#pragma warning disable CA5350
        Hash = System.Security.Cryptography.SHA1.HashData(System.Text.Encoding.UTF8.GetBytes(lua));
#pragma warning restore CA5350
    }

    /// <summary>The script's text, sent once with <c>EVAL</c> when a server does not know it yet.</summary>
    public string Lua { get; }

    /// <summary>The script's SHA-1.</summary>
    public byte[] Hash { get; }
}
