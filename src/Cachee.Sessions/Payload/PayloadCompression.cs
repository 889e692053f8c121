using Cachee.Sessions.L2;
using K4os.Compression.LZ4;

namespace Cachee.Sessions.Payload;

/// <summary>
/// The optional compression of stored values (<see cref="CacheeOptions.CompressValues"/>): LZ4 at its fastest level, in
/// K4os' self-describing "pickle" format (it carries the original length). A compressed value is marked by the entry's
/// <c>enc</c> field (<see cref="Lz4"/>); an entry without it is plain, so both are read whatever the option says.
/// </summary>
internal static class PayloadCompression
{
    /// <summary>The <c>enc</c> field's value for an LZ4-compressed payload.</summary>
    public const string Lz4 = "lz4";

    /// <summary>
    /// The payload to store for <paramref name="value"/> and its marking: compressed when at least
    /// <paramref name="threshold"/> bytes (null: never) and when that saves at least an eighth; else the value itself and "".
    /// </summary>
    public static (byte[] Payload, string Encoding) Encode(byte[] value, int? threshold)
    {
        if (threshold is not { } minimum || value.Length < minimum)
        {
            return (value, string.Empty);
        }

        var compressed = LZ4Pickler.Pickle(value, LZ4Level.L00_FAST);
        return compressed.Length <= value.Length - (value.Length / 8) ? (compressed, Lz4) : (value, string.Empty);
    }

    /// <summary>The value a stored payload holds; throws <see cref="L2.L2PayloadException"/> when it cannot be read.</summary>
    public static byte[] Decode(byte[] payload, string? encoding)
    {
        if (string.IsNullOrEmpty(encoding))
        {
            return payload;
        }

        if (encoding != Lz4)
        {
            throw new L2.L2PayloadException($"The entry is marked with an encoding this version does not know ('{encoding}').");
        }

        try
        {
            return LZ4Pickler.Unpickle(payload);
        }
        catch (Exception ex) when (ex is InvalidDataException or ArgumentException or IndexOutOfRangeException or OverflowException or InvalidOperationException)
        {
            throw new L2.L2PayloadException("The compressed payload does not decompress: " + ex.GetType().Name + ".");
        }
    }
}
