using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

// Some of these tests switch Gemm.Path and Gemm.MaxThreads, process-wide settings: run alone, so that no other
// test's products (a determinism check comparing two training runs bit for bit) change kernel or split meanwhile.
[Collection(GemmSettingsCollection.Name)]
public class GemmTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 },
        { 12, 32, 256 },    // exactly one microkernel tile and one KC block
        { 13, 33, 7 },      // one past the tile in m and n
        { 25, 65, 257 },    // edges everywhere, two KC blocks
        { 200, 70, 300 },   // an MC block and a short one; large enough to run in parallel
        { 5, 3100, 3 },     // more than one NC panel
        { 128, 128, 32 },   // attention scores per head
        { 20, 64, 40 },     // a 12-row sliver and a full-width 8-row one
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void AllTransposesMatchDoubleReference(int m, int n, int k)
    {
        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
        {
            Check(ta, tb, m, n, k, alpha: 1, beta: 0, pad: 0);
            Check(ta, tb, m, n, k, alpha: 0.7f, beta: 1, pad: 3);
            Check(ta, tb, m, n, k, alpha: -1.5f, beta: 0.5f, pad: 1);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FallbackKernelsMatchDoubleReference(bool scalar)
    {
        var isa = scalar ? Gemm.Isa.Scalar : Gemm.Isa.Avx2;
        if (isa == Gemm.Isa.Avx2 && !System.Runtime.Intrinsics.X86.Fma.IsSupported) return;
        var saved = Gemm.Path;
        Gemm.Path = isa;
        try
        {
            foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
            {
                Check(ta, tb, 25, 65, 257, alpha: 1, beta: 0, pad: 2);
                Check(ta, tb, 12, 32, 9, alpha: 0.5f, beta: 1, pad: 0);
                // A last sliver of 8 and of 7 rows: two 4-row strips on AVX2.
                Check(ta, tb, 20, 40, 33, alpha: 1, beta: 0.5f, pad: 1);
                Check(ta, tb, 7, 17, 5, alpha: 1, beta: 0, pad: 0);
            }
            // Packed weights in this kernel's layout (AVX2: each sliver as two 16-column halves), with last slivers
            // that end inside the first half (40 = 32 + 8, 70 = 64 + 6) and inside the second (25 = 16 + 9), and
            // a second KC block one deep (257).
            foreach (var (m, n, k) in new[] { (20, 40, 300), (13, 25, 33), (33, 70, 257) })
            {
                PackedMatrixMatchesUnpacked(false, m, n, k);
                PackedMatrixMatchesUnpacked(true, m, n, k);
            }
            var packed = PackedMatrix.Pack(true, 8, 40, new float[320], 8);
            Assert.Equal(isa == Gemm.Isa.Avx2, packed.HalfSlivers);
            if (packed.HalfSlivers)
            {
                // A panel in the AVX2 layout under another kernel is refused, not misread.
                Gemm.Path = Gemm.Isa.Scalar;
                var e = Assert.Throws<InvalidOperationException>(() =>
                    Gemm.Multiply(false, 2, 40, 8, 1, new float[16], 8, packed, 0, new float[80], 40));
                Assert.Contains("pack it again", e.Message);
            }
        }
        finally
        {
            Gemm.Path = saved;
        }
    }

    [Fact]
    public void SingleThreadGivesTheSameResultAsParallel()
    {
        var saved = Gemm.MaxThreads;
        try
        {
            Gemm.MaxThreads = 1;
            Check(false, true, 200, 70, 300, alpha: 1, beta: 0, pad: 0);
            Check(true, false, 70, 200, 300, alpha: 1, beta: 1, pad: 0);
        }
        finally
        {
            Gemm.MaxThreads = saved;
        }
    }

    [Fact]
    public void ConcurrentCallersEachGetTheirOwnResult()
    {
        // Four threads at once: one gets the worker pool, the others run serially; all must be right.
        var errors = new List<Exception>();
        var threads = Enumerable.Range(0, 4).Select(i => new Thread(() =>
        {
            try
            {
                for (int rep = 0; rep < 3; rep++) Check(i % 2 == 0, i < 2, 200 + i, 70, 300, alpha: 1, beta: 1, pad: i);
            }
            catch (Exception e)
            {
                lock (errors) errors.Add(e);
            }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        Assert.Empty(errors);
    }

    [Fact]
    public void WarmCallsAllocateNothingOnTheCallingThread()
    {
        var rng = new Random(2);
        var a = Random(rng, 300 * 300);
        var b = Random(rng, 300 * 70);
        var c = new float[300 * 70];
        foreach (var (m, n, k) in new[] { (300, 70, 300), (20, 30, 10) }) // parallel and serial paths
        {
            Gemm.Multiply(false, true, m, n, k, 1, a, k, b, k, 0, c, n);
            long before = GC.GetAllocatedBytesForCurrentThread();
            Gemm.Multiply(false, true, m, n, k, 1, a, k, b, k, 0, c, n);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }

    [Fact]
    public void BetaZeroOverwritesNaNAndKZeroScalesC()
    {
        var c = new float[6];
        Array.Fill(c, float.NaN);
        Gemm.Multiply(false, false, 2, 3, 2, 1, [1, 2, 3, 4], 2, [1, 0, 0, 0, 1, 0], 3, 0, c, 3);
        Assert.Equal(new float[] { 1, 2, 0, 3, 4, 0 }, c);

        var d = new float[] { 1, 2, 3, 4 };
        Gemm.Multiply(false, false, 2, 2, 0, 1, [], 1, [], 2, 0.5f, d, 2);
        Assert.Equal(new float[] { 0.5f, 1, 1.5f, 2 }, d);
        Gemm.Multiply(false, false, 2, 2, 0, 1, [], 1, [], 2, 0, d, 2);
        Assert.Equal(new float[4], d);
    }

    [Theory]
    [InlineData(false, 33, 70, 300)]
    [InlineData(true, 200, 64, 384)]
    [InlineData(false, 16, 96, 600)]   // a 16-token query: a 12-row and a 4-row sliver, all of k in each task
    [InlineData(false, 7, 64, 300)]    // the 8-row kernel with full-width tiles
    [InlineData(false, 20, 70, 300)]   // 12 + 8 rows: the 8-row kernel's full tiles straight to C, its 6-column edge through scratch
    [InlineData(false, 16, 1536, 384)] // a feed-forward weight (2.4 MB): panels in huge-page memory on Linux
    [InlineData(true, 33, 1536, 384)]  // one block of transposed rows over several tasks: A packed once for all
    [InlineData(false, 1000, 64, 300)] // six blocks of 14 twelve-row slivers (the last 4 rows short), not five of 192 and one of 40
    public void PackedMatrixMatchesUnpacked(bool transA, int m, int n, int k)
    {
        var rng = new Random(7);
        var a = Random(rng, transA ? k * m : m * k);
        var w = Random(rng, n * k); // [out=n, in=k]: y = x·Wᵀ
        var packed = PackedMatrix.Pack(true, k, n, w, k);
        Assert.Equal(OperatingSystem.IsLinux() && (long)k * n * sizeof(float) >= HugePages.MinBlockBytes, packed.InHugePageMemory);
        var c = Random(rng, m * n);
        var expected = Reference(transA, true, m, n, k, 0.9, a, transA ? m : k, w, k, 1, c, n);
        Gemm.Multiply(transA, m, n, k, 0.9f, a, transA ? m : k, packed, 1, c, n);
        AssertClose(expected, c, m, n, n);

        var wk = Random(rng, k * n); // stored [k, n]
        var packedN = PackedMatrix.Pack(false, k, n, wk, n);
        var c2 = new float[m * n];
        Gemm.Multiply(transA, m, n, k, 1, a, transA ? m : k, packedN, 0, c2, n);
        AssertClose(Reference(transA, false, m, n, k, 1, a, transA ? m : k, wk, n, 0, c2, n), c2, m, n, n);
    }

    [Theory]
    [InlineData(false, 13, 70, 300)]   // two KC blocks: the bias must go in once
    [InlineData(false, 20, 64, 300)]   // the 8-row kernel's full tiles add the bias as they store
    [InlineData(true, 200, 33, 40)]
    public void BiasIsAddedToEveryRowOnce(bool packed, int m, int n, int k)
    {
        var rng = new Random(m + n);
        int ldc = n + 2;
        var x = Random(rng, m * k);
        var w = Random(rng, n * k);
        var bias = Random(rng, n);
        foreach (float beta in new[] { 0f, 1f })
        {
            var c = Random(rng, m * ldc);
            var (value, scale) = Reference(false, true, m, n, k, 1, x, k, w, k, beta, c, ldc);
            for (int i = 0; i < value.Length; i++)
            {
                value[i] += bias[i % n];
                scale[i] += Math.Abs(bias[i % n]);
            }
            if (packed) Gemm.Multiply(false, m, n, k, 1, x, k, PackedMatrix.Pack(true, k, n, w, k), bias, beta, c, ldc);
            else Gemm.Multiply(false, true, m, n, k, 1, x, k, w, k, bias, beta, c, ldc);
            AssertClose((value, scale), c, m, n, ldc);
        }
        var d = new float[4];
        Gemm.Multiply(false, false, 2, 2, 0, 1, [], 1, [], 2, [1, 2], 0, d, 2);
        Assert.Equal(new float[] { 1, 2, 1, 2 }, d);
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 0, 1, [], 1, [], 2, [1], 0, d, 2));
    }

    [Theory]
    [InlineData(32, 1536, 384)]  // one block of rows over several tasks: A packed once for all, each task's GELU on its columns
    [InlineData(16, 1100, 600)]  // three KC blocks, a short last sliver of columns
    [InlineData(200, 300, 384)]  // two blocks of rows, each task packing its own
    [InlineData(5, 40, 30)]      // small enough to run on the caller, one task
    public void PackedProductWithGeluEpilogueMatchesGeluOfTheReference(int m, int n, int k)
    {
        var rng = new Random(m * n + k);
        int ldc = n + 3;
        var x = Random(rng, m * k);
        var w = Random(rng, n * k);
        var bias = Random(rng, n);
        var c = Random(rng, m * ldc); // overwritten (beta 0), the padding between rows left alone
        var before = (float[])c.Clone();
        var (value, scale) = Reference(false, true, m, n, k, 1, x, k, w, k, 0, c, ldc);
        Gemm.Multiply(false, m, n, k, 1, x, k, PackedMatrix.Pack(true, k, n, w, k), bias, 0, c, ldc, gelu: true);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double pre = value[i * n + j] + bias[j], want = Tensors.Reference.Gelu(pre), got = c[i * ldc + j];
                // GELU's slope is at most 1.13; its own approximation adds below 1e-6.
                double tol = 1.13 * (2e-6 * (scale[i * n + j] + Math.Abs(bias[j])) + 1e-6) + 1e-6;
                if (!(Math.Abs(want - got) <= tol)) Assert.Fail($"C[{i},{j}] = {got}, expected GELU({pre}) = {want} (tolerance {tol})");
            }
            for (int j = n; j < ldc && i * ldc + j < c.Length; j++) Assert.Equal(before[i * ldc + j], c[i * ldc + j]);
        }
    }

    [Fact]
    public void BatchedHeadsOfATokensByHiddenLayoutMatchPerHeadReference()
    {
        // Q·Kᵀ per (batch, head) over [batch·seq, hidden] buffers, as attention lays them out.
        int batch = 3, seq = 17, heads = 4, dh = 8, hidden = heads * dh;
        var rng = new Random(3);
        var q = Random(rng, batch * seq * hidden);
        var kk = Random(rng, batch * seq * hidden);
        var scores = new float[batch * heads * seq * seq];
        var strides = new BatchStrides((long)seq * hidden, dh);
        Gemm.MultiplyBatched(false, true, seq, seq, dh, 0.25f, q, hidden, strides, kk, hidden, strides,
            0, scores, seq, new BatchStrides((long)heads * seq * seq, seq * seq), batch, heads);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                int off = b * seq * hidden + h * dh;
                var expected = Reference(false, true, seq, seq, dh, 0.25, q.AsSpan(off).ToArray(), hidden,
                    kk.AsSpan(off).ToArray(), hidden, 0, new float[seq * seq], seq);
                AssertClose(expected, scores.AsSpan((b * heads + h) * seq * seq, seq * seq).ToArray(), seq, seq, seq);
            }
    }

    [Fact]
    public void ShortBuffersAndLeadingDimensionsAreNamed()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            Gemm.Multiply(false, true, 4, 5, 6, 1, new float[24], 6, new float[29], 6, 0, new float[20], 5));
        Assert.Contains("B holds 29 values", e.Message);
        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() =>
            Gemm.Multiply(false, false, 4, 5, 6, 1, new float[24], 5, new float[30], 5, 0, new float[20], 5));
        Assert.Contains("leading dimension of A", e2.Message);
        Assert.Throws<ArgumentException>(() => PackedMatrix.Pack(true, 6, 5, new float[29], 6));
    }

    private static void Check(bool ta, bool tb, int m, int n, int k, float alpha, float beta, int pad)
    {
        var rng = new Random(m * 7919 + n * 31 + k + (ta ? 1 : 0) + (tb ? 2 : 0));
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        var a = Random(rng, (ta ? k : m) * lda);
        var b = Random(rng, (tb ? n : k) * ldb);
        var c = Random(rng, m * ldc);
        if (beta == 0) Array.Fill(c, float.NaN);
        var expected = Reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        var padding = new List<float>();
        for (int i = 0; i < m; i++) for (int j = n; j < ldc; j++) padding.Add(c[i * ldc + j]);
        Gemm.Multiply(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        AssertClose(expected, c, m, n, ldc);
        int at = 0;
        for (int i = 0; i < m; i++)
            for (int j = n; j < ldc; j++)
                Assert.Equal(BitConverter.SingleToInt32Bits(padding[at++]), BitConverter.SingleToInt32Bits(c[i * ldc + j]));
    }

    // Returns the expected C and, per element, the scale Σ|alpha·a·b| + |beta·c| used as tolerance.
    private static (double[] Value, double[] Scale) Reference(
        bool ta, bool tb, int m, int n, int k, double alpha, float[] a, int lda, float[] b, int ldb,
        double beta, float[] c, int ldc)
    {
        var value = new double[m * n];
        var scale = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0, abs = 0;
                for (int p = 0; p < k; p++)
                {
                    double prod = (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
                    sum += prod;
                    abs += Math.Abs(prod);
                }
                double cOld = beta == 0 ? 0 : c[i * ldc + j];
                value[i * n + j] = alpha * sum + beta * cOld;
                scale[i * n + j] = Math.Abs(alpha) * abs + Math.Abs(beta * cOld);
            }
        return (value, scale);
    }

    private static void AssertClose((double[] Value, double[] Scale) expected, float[] c, int m, int n, int ldc)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double want = expected.Value[i * n + j], got = c[i * ldc + j];
                double tol = 2e-6 * expected.Scale[i * n + j] + 1e-6;
                if (!(Math.Abs(want - got) <= tol))
                    Assert.Fail($"C[{i},{j}] = {got}, expected {want} (tolerance {tol})");
            }
    }

    private static float[] Random(Random rng, int count)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GemmSettingsCollection
{
    public const string Name = "Gemm's process-wide settings";
}
