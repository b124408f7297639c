using System.Runtime.InteropServices;

namespace BertSharp.Tensors.Native;

/// <summary>
/// The few entry points of oneDNN's C API (v2.x, Debian's <c>libdnnl2</c>) that the bf16 matmul
/// provider needs, bound by name at run time so that a machine without the library simply has no
/// provider instead of failing to load the assembly.
/// </summary>
/// <remarks>
/// Set BERTSHARP_DNNL to a library path to use another build, or to "none" to act as if oneDNN were
/// absent (how the tests check the fallback). Debian's build threads with OpenMP: before the library
/// loads, OMP_WAIT_POLICY defaults to passive here, so OpenMP's worker does not spin on the core that
/// the managed kernels between two matmuls need (set it yourself to override).
/// </remarks>
internal static unsafe class Dnnl
{
    // Sizes from Debian's 2.6 headers (dnnl_memory_desc_t 696, dnnl_matmul_desc_t 2800); the
    // buffers are larger so a 2.x build with a grown struct still cannot write past them.
    internal const int MemoryDescBytes = 1024, MatMulDescBytes = 4096;

    internal const int F32 = 3, Bf16 = 2;
    internal const int ArgSrc = 1, ArgDst = 17, ArgWeights = 33, ArgBias = 41;
    private const int CpuEngine = 1, QueryImplInfoStr = 8, QueryWeightsMd = 131, FormatTagAny = 1, EltwiseGeluErf = 0x30;
    // dnnl_cpu_isa_t: AVX-512 with the bf16 dot-product instructions, and with AMX tiles.
    private const int Avx512Bf16Isa = 231, AmxIsa = 999;

    private static readonly Lazy<Api?> Loaded = new(Load);
    [ThreadStatic] private static nint threadStream;
    [ThreadStatic] private static int threadOmpThreads;

    /// <summary>The bound library, or null where oneDNN (2.x) is not installed.</summary>
    internal static Api? Library => Loaded.Value;

    /// <summary>Why <see cref="Library"/> is null (for messages), or null when it loaded.</summary>
    internal static string? LoadError { get; private set; }

    internal static void Check(int status, string call)
    {
        if (status != 0) throw new InvalidOperationException($"oneDNN {call} failed with status {status}");
    }

    private static Api? Load()
    {
        string name = Environment.GetEnvironmentVariable("BERTSHARP_DNNL") is { Length: > 0 } custom ? custom : "libdnnl.so.2";
        if (name == "none")
        {
            LoadError = "oneDNN disabled by BERTSHARP_DNNL=none";
            return null;
        }
        if (!OperatingSystem.IsLinux())
        {
            LoadError = "the oneDNN provider is built for Linux";
            return null;
        }
        // OpenMP reads its settings once, when libgomp loads with oneDNN. .NET keeps its own copy of
        // the environment, so setenv is the only way to reach the native one.
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null) SetEnv("OMP_WAIT_POLICY", "PASSIVE");
        if (!NativeLibrary.TryLoad(name, out var handle))
        {
            LoadError = $"{name} not found (Debian: apt-get install libdnnl2)";
            return null;
        }
        try
        {
            var api = new Api(handle);
            var version = api.Version();
            if (version.Major != 2)
            {
                LoadError = $"{name} is oneDNN {version.Major}.{version.Minor}; the provider needs 2.x";
                return null;
            }
            // Without native bf16 oneDNN emulates it, slower than the managed fp32 kernels.
            if (!api.HasNativeBf16)
            {
                LoadError = "this CPU has no native bf16 (AVX512-BF16 or AMX), where bf16 would run slower than fp32";
                return null;
            }
            return api;
        }
        catch (EntryPointNotFoundException e)
        {
            LoadError = $"{name} lacks {e.Message}";
            return null;
        }
    }

    private static void SetEnv(string name, string value)
    {
        if (OperatingSystem.IsLinux() && NativeLibrary.TryLoad("libc.so.6", out var libc) &&
            NativeLibrary.TryGetExport(libc, "setenv", out var setenv))
        {
            var n = Marshal.StringToHGlobalAnsi(name);
            var v = Marshal.StringToHGlobalAnsi(value);
            ((delegate* unmanaged<nint, nint, int, int>)setenv)(n, v, 0);
            Marshal.FreeHGlobal(n);
            Marshal.FreeHGlobal(v);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct VersionInfo
    {
        public int Major, Minor, Patch;
        public nint Hash;
        public uint CpuRuntime, GpuRuntime;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct ExecArg
    {
        public int Arg;
        public nint Memory;
    }

    /// <summary>The library's functions, looked up once.</summary>
    internal sealed class Api
    {
        private readonly delegate* unmanaged<VersionInfo*> version;
        private readonly delegate* unmanaged<int> effectiveIsa;
        private readonly delegate* unmanaged<nint*, int, nuint, int> engineCreate;
        private readonly delegate* unmanaged<nint*, nint, uint, int> streamCreate;
        private readonly delegate* unmanaged<byte*, int, long*, int, long*, int> memoryDescInitByStrides;
        private readonly delegate* unmanaged<byte*, byte*, byte*, byte*, byte*, int> matmulDescInit;
        private readonly delegate* unmanaged<nint*, int> attrCreate;
        private readonly delegate* unmanaged<nint, int> attrDestroy;
        private readonly delegate* unmanaged<nint, nint, int> attrSetPostOps;
        private readonly delegate* unmanaged<nint*, int> postOpsCreate;
        private readonly delegate* unmanaged<nint, int> postOpsDestroy;
        private readonly delegate* unmanaged<nint, float, int> postOpsAppendSum;
        private readonly delegate* unmanaged<nint, float, int, float, float, int> postOpsAppendEltwise;
        private readonly delegate* unmanaged<nint*, byte*, nint, nint, nint, int> primitiveDescCreate;
        private readonly delegate* unmanaged<nint, int, int, void*, int> primitiveDescQuery;
        private readonly delegate* unmanaged<nint, int> primitiveDescDestroy;
        private readonly delegate* unmanaged<nint*, nint, int> primitiveCreate;
        private readonly delegate* unmanaged<nint, nint, int, ExecArg*, int> primitiveExecute;
        private readonly delegate* unmanaged<nint*, byte*, nint, void*, int> memoryCreate;
        private readonly delegate* unmanaged<nint, void*, int> memorySetDataHandle;
        private readonly delegate* unmanaged<nint, byte**, int> memoryGetMemoryDesc;
        private readonly delegate* unmanaged<nint, int> streamWait;
        private readonly delegate* unmanaged<byte*, int, long*, int, int, int> memoryDescInitByTag;
        private readonly delegate* unmanaged<nint, int, int, byte*> primitiveDescQueryMd;
        private readonly delegate* unmanaged<nint*, byte*, nint, byte*, nint, nint, int> reorderPrimitiveDescCreate;
        private readonly delegate* unmanaged<byte*, nuint> memoryDescGetSize;
        private readonly delegate* unmanaged<nint, int> memoryDestroy;
        private readonly delegate* unmanaged<nint, int> primitiveDestroy;
        private readonly delegate* unmanaged<int, void> ompSetNumThreads;

        public Api(nint lib)
        {
            nint F(string name) => NativeLibrary.TryGetExport(lib, name, out var f) ? f : throw new EntryPointNotFoundException(name);
            version = (delegate* unmanaged<VersionInfo*>)F("dnnl_version");
            effectiveIsa = (delegate* unmanaged<int>)F("dnnl_get_effective_cpu_isa");
            engineCreate = (delegate* unmanaged<nint*, int, nuint, int>)F("dnnl_engine_create");
            streamCreate = (delegate* unmanaged<nint*, nint, uint, int>)F("dnnl_stream_create");
            memoryDescInitByStrides = (delegate* unmanaged<byte*, int, long*, int, long*, int>)F("dnnl_memory_desc_init_by_strides");
            matmulDescInit = (delegate* unmanaged<byte*, byte*, byte*, byte*, byte*, int>)F("dnnl_matmul_desc_init");
            attrCreate = (delegate* unmanaged<nint*, int>)F("dnnl_primitive_attr_create");
            attrDestroy = (delegate* unmanaged<nint, int>)F("dnnl_primitive_attr_destroy");
            postOpsAppendEltwise = (delegate* unmanaged<nint, float, int, float, float, int>)F("dnnl_post_ops_append_eltwise");
            attrSetPostOps = (delegate* unmanaged<nint, nint, int>)F("dnnl_primitive_attr_set_post_ops");
            postOpsCreate = (delegate* unmanaged<nint*, int>)F("dnnl_post_ops_create");
            postOpsDestroy = (delegate* unmanaged<nint, int>)F("dnnl_post_ops_destroy");
            postOpsAppendSum = (delegate* unmanaged<nint, float, int>)F("dnnl_post_ops_append_sum");
            primitiveDescCreate = (delegate* unmanaged<nint*, byte*, nint, nint, nint, int>)F("dnnl_primitive_desc_create");
            primitiveDescQuery = (delegate* unmanaged<nint, int, int, void*, int>)F("dnnl_primitive_desc_query");
            primitiveDescDestroy = (delegate* unmanaged<nint, int>)F("dnnl_primitive_desc_destroy");
            primitiveCreate = (delegate* unmanaged<nint*, nint, int>)F("dnnl_primitive_create");
            primitiveExecute = (delegate* unmanaged<nint, nint, int, ExecArg*, int>)F("dnnl_primitive_execute");
            memoryCreate = (delegate* unmanaged<nint*, byte*, nint, void*, int>)F("dnnl_memory_create");
            memorySetDataHandle = (delegate* unmanaged<nint, void*, int>)F("dnnl_memory_set_data_handle");
            memoryGetMemoryDesc = (delegate* unmanaged<nint, byte**, int>)F("dnnl_memory_get_memory_desc");
            streamWait = (delegate* unmanaged<nint, int>)F("dnnl_stream_wait");
            memoryDescInitByTag = (delegate* unmanaged<byte*, int, long*, int, int, int>)F("dnnl_memory_desc_init_by_tag");
            primitiveDescQueryMd = (delegate* unmanaged<nint, int, int, byte*>)F("dnnl_primitive_desc_query_md");
            reorderPrimitiveDescCreate = (delegate* unmanaged<nint*, byte*, nint, byte*, nint, nint, int>)F("dnnl_reorder_primitive_desc_create");
            memoryDescGetSize = (delegate* unmanaged<byte*, nuint>)F("dnnl_memory_desc_get_size");
            memoryDestroy = (delegate* unmanaged<nint, int>)F("dnnl_memory_destroy");
            primitiveDestroy = (delegate* unmanaged<nint, int>)F("dnnl_primitive_destroy");
            // OpenMP (libgomp, loaded with oneDNN) keeps the team size per calling thread.
            ompSetNumThreads = NativeLibrary.TryGetExport(lib, "omp_set_num_threads", out var omp) ? (delegate* unmanaged<int, void>)omp : null;

            nint e;
            Check(engineCreate(&e, CpuEngine, 0), "engine_create");
            Engine = e;
        }

        public nint Engine { get; }

        // A stream per calling thread: oneDNN streams are not safe to share between threads.
        private nint Stream
        {
            get
            {
                if (threadStream == 0)
                {
                    nint s;
                    Check(streamCreate(&s, Engine, 0x1 /* dnnl_stream_in_order */), "stream_create");
                    threadStream = s;
                }
                return threadStream;
            }
        }

        public VersionInfo Version() => *version();

        /// <summary>Whether oneDNN will run bf16 matmuls on AMX tiles (else AVX-512 bf16 or emulation).</summary>
        public bool UsesAmx => effectiveIsa() >= AmxIsa;

        /// <summary>Whether oneDNN may use the CPU's own bf16 instructions (ONEDNN_MAX_CPU_ISA can forbid them).</summary>
        public bool HasNativeBf16 => effectiveIsa() >= Avx512Bf16Isa;

        public void MemoryDesc(byte* md, long rows, long cols, int dataType, long rowStride, long colStride) =>
            MemoryDesc(md, [rows, cols], [rowStride, colStride], dataType);

        // A tensor of dims.Length dimensions (a matmul takes up to 12: batch dimensions, then rows
        // and columns), element i at Σ index·stride.
        public void MemoryDesc(byte* md, ReadOnlySpan<long> dims, ReadOnlySpan<long> strides, int dataType)
        {
            if (dims.Length != strides.Length) throw new ArgumentException("one stride per dimension", nameof(strides));
            fixed (long* d = dims, s = strides)
                Check(memoryDescInitByStrides(md, dims.Length, d, dataType, s), "memory_desc_init_by_strides");
        }

        // A matmul primitive for the descriptors (bias may be null): c = a·b + bias + sum·c, then GELU
        // (erf) on c when gelu.
        public nint CreateMatMul(byte* src, byte* weights, byte* bias, byte* dst, float sum, bool gelu, out string implementation)
        {
            byte* desc = stackalloc byte[MatMulDescBytes];
            Check(matmulDescInit(desc, src, weights, bias, dst), "matmul_desc_init");
            nint attr, postOps = 0, pd, primitive;
            Check(attrCreate(&attr), "primitive_attr_create");
            try
            {
                if (sum != 0f || gelu)
                {
                    Check(postOpsCreate(&postOps), "post_ops_create");
                    if (sum != 0f) Check(postOpsAppendSum(postOps, sum), "post_ops_append_sum");
                    if (gelu) Check(postOpsAppendEltwise(postOps, 1f, EltwiseGeluErf, 0f, 0f), "post_ops_append_eltwise");
                    Check(attrSetPostOps(attr, postOps), "primitive_attr_set_post_ops");
                }
                Check(primitiveDescCreate(&pd, desc, attr, Engine, 0), "primitive_desc_create (matmul)");
            }
            finally
            {
                if (postOps != 0) postOpsDestroy(postOps);
                attrDestroy(attr);
            }
            try
            {
                sbyte* impl = null;
                implementation = primitiveDescQuery(pd, QueryImplInfoStr, 0, &impl) == 0 && impl != null ? new string(impl) : "?";
                Check(primitiveCreate(&primitive, pd), "primitive_create");
            }
            finally
            {
                primitiveDescDestroy(pd);
            }
            return primitive;
        }

        // The layout a bf16 matmul with (rows × k) inputs prefers for a (k × n) weight: the primitive
        // descriptor that owns it (the md pointer lives as long as it) and the descriptor itself.
        public nint PreferredWeights(long rows, long k, long n, out byte* md)
        {
            byte* src = stackalloc byte[MemoryDescBytes];
            byte* weights = stackalloc byte[MemoryDescBytes];
            byte* dst = stackalloc byte[MemoryDescBytes];
            byte* desc = stackalloc byte[MatMulDescBytes];
            MemoryDesc(src, rows, k, Bf16, k, 1);
            long* dims = stackalloc long[] { k, n };
            Check(memoryDescInitByTag(weights, 2, dims, Bf16, FormatTagAny), "memory_desc_init_by_tag");
            MemoryDesc(dst, rows, n, F32, n, 1);
            Check(matmulDescInit(desc, src, weights, null, dst), "matmul_desc_init");
            nint pd;
            Check(primitiveDescCreate(&pd, desc, 0, Engine, 0), "primitive_desc_create (matmul)");
            md = primitiveDescQueryMd(pd, QueryWeightsMd, 0);
            return pd;
        }

        public void DestroyPrimitiveDesc(nint pd) => primitiveDescDestroy(pd);

        public long Size(byte* md) => (long)memoryDescGetSize(md);

        // Copies src (layout srcMd) into dst (layout dstMd) with a one-off reorder primitive.
        public void Reorder(byte* srcMd, void* src, byte* dstMd, void* dst)
        {
            nint pd, primitive, from, to;
            Check(reorderPrimitiveDescCreate(&pd, srcMd, Engine, dstMd, Engine, 0), "reorder_primitive_desc_create");
            try
            {
                Check(primitiveCreate(&primitive, pd), "primitive_create (reorder)");
            }
            finally
            {
                primitiveDescDestroy(pd);
            }
            Check(memoryCreate(&from, srcMd, Engine, src), "memory_create");
            Check(memoryCreate(&to, dstMd, Engine, dst), "memory_create");
            try
            {
                var args = stackalloc ExecArg[] { new() { Arg = ArgSrc, Memory = from }, new() { Arg = ArgDst, Memory = to } };
                Execute(primitive, args, 2, Gemm.MaxThreads);
            }
            finally
            {
                memoryDestroy(from);
                memoryDestroy(to);
                primitiveDestroy(primitive);
            }
        }

        // A memory object for md whose buffer each call points at its own data.
        public nint Memory(byte* md)
        {
            nint memory;
            Check(memoryCreate(&memory, md, Engine, null), "memory_create");
            return memory;
        }

        // The descriptor of a memory object (valid as long as the object).
        public byte* DescriptorOf(nint memory)
        {
            byte* md;
            Check(memoryGetMemoryDesc(memory, &md), "memory_get_memory_desc");
            return md;
        }

        public void SetHandle(nint memory, void* data) => Check(memorySetDataHandle(memory, data), "memory_set_data_handle");

        // Runs the primitive on the calling thread's stream with up to threads OpenMP threads.
        public void Execute(nint primitive, ExecArg* args, int count, int threads)
        {
            if (threadOmpThreads != threads && ompSetNumThreads != null)
            {
                ompSetNumThreads(threads);
                threadOmpThreads = threads;
            }
            var stream = Stream;
            Check(primitiveExecute(primitive, stream, count, args), "primitive_execute");
            Check(streamWait(stream), "stream_wait");
        }
    }
}
