namespace Cachee.Sessions.Benchmarks;

/// <summary>A reproducible trace of key indices drawn from a Zipf distribution (rank r has weight 1 / r^s).</summary>
internal static class ZipfTrace
{
    public static int[] Create(int keySpace, double exponent, int length, int seed)
    {
        var cumulative = new double[keySpace];
        var total = 0.0;
        for (var rank = 0; rank < keySpace; rank++)
        {
            total += 1.0 / Math.Pow(rank + 1, exponent);
            cumulative[rank] = total;
        }

        // Ranks are shuffled onto keys, so that the hottest keys are not also the first ones inserted or hashed.
        var random = new Random(seed);
        var keyOfRank = Enumerable.Range(0, keySpace).ToArray();
        random.Shuffle(keyOfRank);
        var trace = new int[length];
        for (var i = 0; i < length; i++)
        {
            var rank = Array.BinarySearch(cumulative, random.NextDouble() * total);
            trace[i] = keyOfRank[rank < 0 ? Math.Min(~rank, keySpace - 1) : rank];
        }

        return trace;
    }
}
