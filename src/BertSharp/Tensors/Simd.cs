using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

/// <summary>
/// A SIMD register of floats, so that each element-wise and row-wise kernel is written once and
/// runs 16 lanes wide on AVX-512, 8 on AVX2 and 4 on SSE or Arm's Neon (<see cref="Simd"/> picks).
/// Kernels take it as a type parameter constrained to this interface; the JIT compiles one copy per
/// width with every call inlined, the same code as writing Vector512 or Vector256 by hand.
/// </summary>
internal unsafe interface IVec<TSelf> where TSelf : unmanaged, IVec<TSelf>
{
    /// <summary>Lanes per register.</summary>
    static abstract int Count { get; }

    static abstract TSelf Zero { get; }

    static abstract TSelf Create(float value);

    static abstract TSelf Load(float* source);

    static abstract void Store(TSelf value, float* destination);

    /// <summary>Stores the first <paramref name="count"/> lanes (fewer than <see cref="Count"/>), touching nothing past them.</summary>
    static abstract void StoreFirst(TSelf value, float* destination, int count);

    static abstract TSelf operator +(TSelf left, TSelf right);

    static abstract TSelf operator -(TSelf left, TSelf right);

    static abstract TSelf operator -(TSelf value);

    static abstract TSelf operator *(TSelf left, TSelf right);

    static abstract TSelf operator /(TSelf left, TSelf right);

    /// <summary>a·b + c with one rounding.</summary>
    static abstract TSelf MultiplyAdd(TSelf a, TSelf b, TSelf c);

    /// <summary>The hardware's minimum (vminps): where a lane is NaN, either operand's lane; callers handle NaN themselves.</summary>
    static abstract TSelf Min(TSelf left, TSelf right);

    /// <summary>The hardware's maximum, as <see cref="Min"/>.</summary>
    static abstract TSelf Max(TSelf left, TSelf right);

    static abstract TSelf Abs(TSelf value);

    static abstract TSelf Round(TSelf value);

    /// <summary>All-ones lanes where left &lt; right (a mask for <see cref="Select"/>).</summary>
    static abstract TSelf LessThan(TSelf left, TSelf right);

    /// <summary>Whether any lane of left is below right's.</summary>
    static abstract bool AnyLessThan(TSelf left, TSelf right);

    /// <summary>All-ones lanes where value is NaN.</summary>
    static abstract TSelf IsNaN(TSelf value);

    /// <summary>Lanes of ifSet where mask's bits are set, else of otherwise (bitwise).</summary>
    static abstract TSelf Select(TSelf mask, TSelf ifSet, TSelf otherwise);

    /// <summary>p·2ⁿ for an integral n in [−126, 128], +∞ where x (the exponential's argument, n ≈ x/ln 2) overflows fp32.</summary>
    static abstract TSelf ScaleByPowerOfTwo(TSelf p, TSelf n, TSelf x);

    /// <summary>Each lane's bits shifted left by 23: from a biased exponent in the low bits, that power of two.</summary>
    static abstract TSelf ShiftExponent(TSelf value);

    /// <summary>Lanes of value where mask's are clear, zero where set.</summary>
    static abstract TSelf AndNot(TSelf mask, TSelf value);

    static abstract float Sum(TSelf value);

    static abstract float MaxAcross(TSelf value);
}

/// <summary>The vector width kernels run at: the widest the CPU accelerates.</summary>
internal static class Simd
{
    internal enum Width { V128 = 4, V256 = 8, V512 = 16 }

    /// <summary>The width in use; tests switch it to cover every narrower one on one machine.</summary>
    internal static Width Lanes { get; set; } =
        Vector512.IsHardwareAccelerated ? Width.V512
        : Vector256.IsHardwareAccelerated ? Width.V256
        : Width.V128;

    /// <summary>Where e^x overflows fp32.</summary>
    internal const float ExpOverflow = 88.72283f;
}

/// <summary>16 lanes; only where Vector512 is accelerated (AVX-512).</summary>
internal readonly struct Vec512(Vector512<float> v) : IVec<Vec512>
{
    private readonly Vector512<float> v = v;

    public static int Count => 16;
    public static Vec512 Zero => default;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Create(float value) => new(Vector512.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe Vec512 Load(float* source) => new(Vector512.Load(source));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(Vec512 value, float* destination) => value.v.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void StoreFirst(Vec512 value, float* destination, int count)
    {
        var lanes = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle();
        Avx512F.MaskStore(destination, lanes, value.v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 operator +(Vec512 left, Vec512 right) => new(left.v + right.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 operator -(Vec512 left, Vec512 right) => new(left.v - right.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 operator -(Vec512 value) => new(-value.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 operator *(Vec512 left, Vec512 right) => new(left.v * right.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 operator /(Vec512 left, Vec512 right) => new(left.v / right.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 MultiplyAdd(Vec512 a, Vec512 b, Vec512 c) => new(Vector512.FusedMultiplyAdd(a.v, b.v, c.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Min(Vec512 left, Vec512 right) => new(Vector512.MinNative(left.v, right.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Max(Vec512 left, Vec512 right) => new(Vector512.MaxNative(left.v, right.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Abs(Vec512 value) => new(Vector512.Abs(value.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Round(Vec512 value) => new(Vector512.Round(value.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 LessThan(Vec512 left, Vec512 right) => new(Vector512.LessThan(left.v, right.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool AnyLessThan(Vec512 left, Vec512 right) => Vector512.LessThanAny(left.v, right.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 ShiftExponent(Vec512 value) => new(Vector512.ShiftLeft(value.v.AsInt32(), 23).AsSingle());
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 AndNot(Vec512 mask, Vec512 value) => new(Vector512.AndNot(value.v, mask.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 IsNaN(Vec512 value) => new(Vector512.IsNaN(value.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Select(Vec512 mask, Vec512 ifSet, Vec512 otherwise) => new(Vector512.ConditionalSelect(mask.v, ifSet.v, otherwise.v));

    // vscalefps scales and overflows to +∞ in one instruction.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vec512 ScaleByPowerOfTwo(Vec512 p, Vec512 n, Vec512 x) => new(Avx512F.Scale(p.v, n.v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vec512 value) => Vector512.Sum(value.v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vec512 value) => Vec256.MaxAcross(new Vec256(Vector256.Max(value.v.GetLower(), value.v.GetUpper())));
}

/// <summary>8 lanes (AVX2).</summary>
internal readonly struct Vec256(Vector256<float> v) : IVec<Vec256>
{
    private readonly Vector256<float> v = v;

    public static int Count => 8;
    public static Vec256 Zero => default;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Create(float value) => new(Vector256.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe Vec256 Load(float* source) => new(Vector256.Load(source));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(Vec256 value, float* destination) => value.v.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void StoreFirst(Vec256 value, float* destination, int count)
    {
        if (Avx.IsSupported)
        {
            Avx.MaskStore(destination, Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(count)).AsSingle(), value.v);
            return;
        }
        for (int i = 0; i < count; i++) destination[i] = value.v.GetElement(i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 operator +(Vec256 left, Vec256 right) => new(left.v + right.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 operator -(Vec256 left, Vec256 right) => new(left.v - right.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 operator -(Vec256 value) => new(-value.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 operator *(Vec256 left, Vec256 right) => new(left.v * right.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 operator /(Vec256 left, Vec256 right) => new(left.v / right.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 MultiplyAdd(Vec256 a, Vec256 b, Vec256 c) => new(Vector256.FusedMultiplyAdd(a.v, b.v, c.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Min(Vec256 left, Vec256 right) => new(Vector256.MinNative(left.v, right.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Max(Vec256 left, Vec256 right) => new(Vector256.MaxNative(left.v, right.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Abs(Vec256 value) => new(Vector256.Abs(value.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Round(Vec256 value) => new(Vector256.Round(value.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 LessThan(Vec256 left, Vec256 right) => new(Vector256.LessThan(left.v, right.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool AnyLessThan(Vec256 left, Vec256 right) => Vector256.LessThanAny(left.v, right.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 ShiftExponent(Vec256 value) => new(Vector256.ShiftLeft(value.v.AsInt32(), 23).AsSingle());
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 AndNot(Vec256 mask, Vec256 value) => new(Vector256.AndNot(value.v, mask.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 IsNaN(Vec256 value) => new(Vector256.IsNaN(value.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Select(Vec256 mask, Vec256 ifSet, Vec256 otherwise) => new(Vector256.ConditionalSelect(mask.v, ifSet.v, otherwise.v));

    // 2^n as two factors 2^⌊n/2⌋ · 2^(n−⌊n/2⌋), each a normal float built from its exponent bits (n reaches
    // 128 just below the overflow threshold, one past the largest exponent a single factor holds), and +∞
    // past that threshold, which the factors alone reach only for part of (88.72, 89].
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vec256 ScaleByPowerOfTwo(Vec256 p, Vec256 n, Vec256 x)
    {
        var ni = Vector256.ConvertToInt32Native(n.v);
        var half = Vector256.ShiftRightArithmetic(ni, 1);
        var e = p.v * Vector256.ShiftLeft(half + Vector256.Create(127), 23).AsSingle() * Vector256.ShiftLeft(ni - half + Vector256.Create(127), 23).AsSingle();
        return new(Vector256.ConditionalSelect(Vector256.GreaterThan(x.v, Vector256.Create(Simd.ExpOverflow)), Vector256.Create(float.PositiveInfinity), e));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vec256 value) => Vector256.Sum(value.v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vec256 value) => Vec128.MaxAcross(new Vec128(Vector128.Max(value.v.GetLower(), value.v.GetUpper())));
}

/// <summary>4 lanes (SSE, Neon).</summary>
internal readonly struct Vec128(Vector128<float> v) : IVec<Vec128>
{
    private readonly Vector128<float> v = v;

    public static int Count => 4;
    public static Vec128 Zero => default;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec128 Create(float value) => new(Vector128.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe Vec128 Load(float* source) => new(Vector128.Load(source));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe void Store(Vec128 value, float* destination) => value.v.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void StoreFirst(Vec128 value, float* destination, int count)
    {
        for (int i = 0; i < count; i++) destination[i] = value.v.GetElement(i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec128 operator +(Vec128 left, Vec128 right) => new(left.v + right.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec128 operator -(Vec128 left, Vec128 right) => new(left.v - right.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec128 operator -(Vec128 value) => new(-value.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec128 operator *(Vec128 left, Vec128 right) => new(left.v * right.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec128 operator /(Vec128 left, Vec128 right) => new(left.v / right.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec128 MultiplyAdd(Vec128 a, Vec128 b, Vec128 c) => new(Vector128.FusedMultiplyAdd(a.v, b.v, c.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec128 Min(Vec128 left, Vec128 right) => new(Vector128.MinNative(left.v, right.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec128 Max(Vec128 left, Vec128 right) => new(Vector128.MaxNative(left.v, right.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec128 Abs(Vec128 value) => new(Vector128.Abs(value.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec128 Round(Vec128 value) => new(Vector128.Round(value.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec128 LessThan(Vec128 left, Vec128 right) => new(Vector128.LessThan(left.v, right.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool AnyLessThan(Vec128 left, Vec128 right) => Vector128.LessThanAny(left.v, right.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec128 ShiftExponent(Vec128 value) => new(Vector128.ShiftLeft(value.v.AsInt32(), 23).AsSingle());
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec128 AndNot(Vec128 mask, Vec128 value) => new(Vector128.AndNot(value.v, mask.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec128 IsNaN(Vec128 value) => new(Vector128.IsNaN(value.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec128 Select(Vec128 mask, Vec128 ifSet, Vec128 otherwise) => new(Vector128.ConditionalSelect(mask.v, ifSet.v, otherwise.v));

    // As Vec256's.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vec128 ScaleByPowerOfTwo(Vec128 p, Vec128 n, Vec128 x)
    {
        var ni = Vector128.ConvertToInt32Native(n.v);
        var half = Vector128.ShiftRightArithmetic(ni, 1);
        var e = p.v * Vector128.ShiftLeft(half + Vector128.Create(127), 23).AsSingle() * Vector128.ShiftLeft(ni - half + Vector128.Create(127), 23).AsSingle();
        return new(Vector128.ConditionalSelect(Vector128.GreaterThan(x.v, Vector128.Create(Simd.ExpOverflow)), Vector128.Create(float.PositiveInfinity), e));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vec128 value) => Vector128.Sum(value.v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vec128 value)
    {
        var q = Vector128.Max(value.v, Vector128.Shuffle(value.v, Vector128.Create(2, 3, 0, 1)));
        return Vector128.Max(q, Vector128.Shuffle(q, Vector128.Create(1, 0, 3, 2))).ToScalar();
    }
}

/// <summary>
/// Two registers worked in lock step. A kernel whose every element is one long dependent chain — GELU's erfc
/// and exponential, some 40 operations — runs at the chain's latency when the loop body holds one register: the
/// out-of-order window does not reach the next iteration's independent work (Zen 1 splits each 256-bit operation
/// in two, halving its reach). Interleaving two chains in program order lets the core overlap them.
/// </summary>
/// <remarks>
/// The JIT inlines every operation only while the calling method stays within its inlining budget: a loop over
/// Pair belongs in a method of its own, marked NoInlining; a Pair of Pairs, or an erfc and an exponential in one
/// body, exceeded the budget and called the operators instead (slower than one register).
/// </remarks>
internal readonly struct Pair<V>(V lo, V hi) : IVec<Pair<V>> where V : unmanaged, IVec<V>
{
    private readonly V lo = lo, hi = hi;

    /// <summary>The first register (lanes 0 … V.Count − 1).</summary>
    public V Lo => lo;

    /// <summary>The second register.</summary>
    public V Hi => hi;

    public static int Count => 2 * V.Count;
    public static Pair<V> Zero => default;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> Create(float value) => new(V.Create(value), V.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static unsafe Pair<V> Load(float* source) => new(V.Load(source), V.Load(source + V.Count));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Store(Pair<V> value, float* destination)
    {
        V.Store(value.lo, destination);
        V.Store(value.hi, destination + V.Count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void StoreFirst(Pair<V> value, float* destination, int count)
    {
        if (count <= V.Count)
        {
            if (count == V.Count) V.Store(value.lo, destination);
            else V.StoreFirst(value.lo, destination, count);
            return;
        }
        V.Store(value.lo, destination);
        V.StoreFirst(value.hi, destination + V.Count, count - V.Count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> operator +(Pair<V> left, Pair<V> right) => new(left.lo + right.lo, left.hi + right.hi);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> operator -(Pair<V> left, Pair<V> right) => new(left.lo - right.lo, left.hi - right.hi);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> operator -(Pair<V> value) => new(-value.lo, -value.hi);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> operator *(Pair<V> left, Pair<V> right) => new(left.lo * right.lo, left.hi * right.hi);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> operator /(Pair<V> left, Pair<V> right) => new(left.lo / right.lo, left.hi / right.hi);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> MultiplyAdd(Pair<V> a, Pair<V> b, Pair<V> c) => new(V.MultiplyAdd(a.lo, b.lo, c.lo), V.MultiplyAdd(a.hi, b.hi, c.hi));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> Min(Pair<V> left, Pair<V> right) => new(V.Min(left.lo, right.lo), V.Min(left.hi, right.hi));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> Max(Pair<V> left, Pair<V> right) => new(V.Max(left.lo, right.lo), V.Max(left.hi, right.hi));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> Abs(Pair<V> value) => new(V.Abs(value.lo), V.Abs(value.hi));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> Round(Pair<V> value) => new(V.Round(value.lo), V.Round(value.hi));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> LessThan(Pair<V> left, Pair<V> right) => new(V.LessThan(left.lo, right.lo), V.LessThan(left.hi, right.hi));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool AnyLessThan(Pair<V> left, Pair<V> right) => V.AnyLessThan(left.lo, right.lo) || V.AnyLessThan(left.hi, right.hi);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> ShiftExponent(Pair<V> value) => new(V.ShiftExponent(value.lo), V.ShiftExponent(value.hi));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> AndNot(Pair<V> mask, Pair<V> value) => new(V.AndNot(mask.lo, value.lo), V.AndNot(mask.hi, value.hi));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> IsNaN(Pair<V> value) => new(V.IsNaN(value.lo), V.IsNaN(value.hi));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> Select(Pair<V> mask, Pair<V> ifSet, Pair<V> otherwise) => new(V.Select(mask.lo, ifSet.lo, otherwise.lo), V.Select(mask.hi, ifSet.hi, otherwise.hi));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Pair<V> ScaleByPowerOfTwo(Pair<V> p, Pair<V> n, Pair<V> x) => new(V.ScaleByPowerOfTwo(p.lo, n.lo, x.lo), V.ScaleByPowerOfTwo(p.hi, n.hi, x.hi));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Pair<V> value) => V.Sum(value.lo + value.hi);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(Pair<V> value) => V.MaxAcross(V.Max(value.lo, value.hi));
}
