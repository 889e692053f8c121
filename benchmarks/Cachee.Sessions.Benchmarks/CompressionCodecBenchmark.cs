using System.Collections.Concurrent;
using System.IO.Compression;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using K4os.Compression.LZ4;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// The codec for <see cref="CacheeOptions.CompressValues"/>. Compressing and decompressing 1 MB of session-like
/// JSON and of random bytes (key material) with LZ4 at its fastest level (what Cachee uses), Brotli at quality 1 and ZLib at
/// its fastest level (System.IO.Compression). The mean is µs per MB; the Ratio column compares with LZ4; "Size" is the
/// compressed size as a share of the original.
/// </summary>
[Config(typeof(Config))]
public class CompressionCodecBenchmark
{
    private const int Bytes = 1024 * 1024;
    private static readonly ConcurrentDictionary<string, double> Sizes = new();
    private byte[] _payload = [];
    private byte[] _lz4 = [];
    private byte[] _brotli = [];
    private byte[] _zlib = [];
    private byte[] _buffer = [];

    /// <summary>What the session holds.</summary>
    [Params("json", "random")]
    public string Payload { get; set; } = "json";

    [GlobalSetup]
    public void Setup()
    {
        _payload = Payload == "json" ? JsonLike(Bytes) : L1Fixtures.Value(Bytes);
        _buffer = new byte[Bytes * 2];
        _lz4 = Lz4Compress();
        _brotli = BrotliCompress();
        _zlib = ZLibCompress();
        Check(Lz4Decompress(), "LZ4");
        Check(BrotliDecompress(), "Brotli");
        Check(ZLibDecompress(), "ZLib");
        Sizes[Payload + "|LZ4"] = (double)_lz4.Length / Bytes;
        Sizes[Payload + "|Brotli"] = (double)_brotli.Length / Bytes;
        Sizes[Payload + "|ZLib"] = (double)_zlib.Length / Bytes;
    }

    [Benchmark(Baseline = true, Description = "LZ4 compress")]
    public byte[] Lz4Compress() => LZ4Pickler.Pickle(_payload, LZ4Level.L00_FAST);

    [Benchmark(Description = "Brotli q1 compress")]
    public byte[] BrotliCompress()
    {
        using var encoder = new BrotliEncoder(quality: 1, window: 22);
        _ = encoder.Compress(_payload, _buffer, out _, out var written, isFinalBlock: true);
        return _buffer.AsSpan(0, written).ToArray();
    }

    [Benchmark(Description = "ZLib fastest compress")]
    public byte[] ZLibCompress()
    {
        using var output = new MemoryStream();
        using (var zlib = new ZLibStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            zlib.Write(_payload);
        }

        return output.ToArray();
    }

    [Benchmark(Description = "LZ4 decompress")]
    public byte[] Lz4Decompress() => LZ4Pickler.Unpickle(_lz4);

    [Benchmark(Description = "Brotli decompress")]
    public byte[] BrotliDecompress()
    {
        var result = new byte[Bytes];
        _ = BrotliDecoder.TryDecompress(_brotli, result, out _);
        return result;
    }

    [Benchmark(Description = "ZLib decompress")]
    public byte[] ZLibDecompress()
    {
        var result = new byte[Bytes];
        using var zlib = new ZLibStream(new MemoryStream(_zlib), CompressionMode.Decompress);
        zlib.ReadExactly(result);
        return result;
    }

    private void Check(byte[] decompressed, string codec)
    {
        if (!decompressed.AsSpan().SequenceEqual(_payload))
        {
            throw new InvalidOperationException($"{codec} did not give back the payload.");
        }
    }

    // Session-like JSON: repeated field names, ids, prices and words, as serialised carts and claims look.
    internal static byte[] JsonLike(int length)
    {
        var random = new Random(42);
        string[] words = ["alice", "checkout", "sku", "quantity", "price", "currency", "EUR", "claims", "role", "admin", "cart", "item"];
        var text = new StringBuilder("{\"items\":[");
        while (text.Length < length)
        {
            _ = text.Append("{\"").Append(words[random.Next(words.Length)]).Append("\":\"").Append(words[random.Next(words.Length)])
                .Append("\",\"id\":").Append(random.Next(1_000_000)).Append(",\"price\":").Append(random.Next(10_000) / 100.0)
                .Append("},");
        }

        return Encoding.UTF8.GetBytes(text.ToString(0, length));
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            _ = AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance));
            _ = AddDiagnoser(BenchmarkDotNet.Diagnosers.MemoryDiagnoser.Default);
            _ = AddColumn(new ResultColumn("Size", "Compressed size as a share of the original", (_, c) => Size(c)));
        }

        private static string Size(BenchmarkCase benchmarkCase)
        {
            var method = benchmarkCase.Descriptor.WorkloadMethod.Name;
            var codec = method.StartsWith("Lz4", StringComparison.Ordinal) ? "LZ4" : method.StartsWith("Brotli", StringComparison.Ordinal) ? "Brotli" : "ZLib";
            return Sizes.TryGetValue($"{benchmarkCase.Parameters["Payload"]}|{codec}", out var share) ? $"{share:P1}" : "?";
        }
    }
}
