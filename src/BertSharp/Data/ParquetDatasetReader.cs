using System.Buffers.Binary;
using System.Globalization;
using System.Reflection;
using Parquet;
using Parquet.Meta;
using Parquet.Schema;

namespace BertSharp.Data;

/// <summary>
/// Apache Parquet through Parquet.Net, one row group at a time. Text columns must be strings;
/// labels may be strings, integers or booleans. Row numbers in messages count from 1 across row groups.
/// </summary>
internal static class ParquetDatasetReader
{
    public static TextDataset Read(string path, DatasetLoadOptions options)
    {
        // Opened here so that a missing or unreadable file stays an I/O error; past this point any
        // failure is the file's content, whatever Parquet.Net throws for it (IOException "not a
        // parquet file", overflows or out-of-range indexes on a corrupt footer, …).
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        var parseFooter = FooterParser.Value;
        try
        {
            CheckFooterEnds(stream, path, parseFooter);
            // Page headers are parsed from this stream by the same Thrift reader (fuzz finding parquet-hang-page-header.bin).
            return ReadAsync(new EndThrowingStream(stream, "a page header runs past the end of the file"), path, options).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not InvalidDataException and not OutOfMemoryException)
        {
            throw new InvalidDataException($"{path}: not a readable Parquet file ({e.GetType().Name}: {e.Message})", e);
        }
    }

    // Parquet.Net 6.1 parses the footer from a MemoryStream and its Thrift reader takes the -1 that marks the
    // stream's end for a byte with every bit set: a footer that ends inside a field (fuzz finding
    // bench/fuzz-findings/parquet-hang.bin) reads "continue" forever. Its own parser run first over the same bytes,
    // from a stream that throws at their end, turns that into an error; a footer that parses this way never reaches
    // its end, so Parquet.Net then parses it the same way and returns.
    private static void CheckFooterEnds(FileStream file, string path, Action<Stream> parseFooter)
    {
        Span<byte> tail = stackalloc byte[8];
        // Too short or without the magic: Parquet.Net's own check refuses it, naming what it found.
        if (file.Length < 12) return;
        file.Seek(-tail.Length, SeekOrigin.End);
        file.ReadExactly(tail);
        if (!tail[4..].SequenceEqual("PAR1"u8)) return;
        int length = BinaryPrimitives.ReadInt32LittleEndian(tail);
        if (length <= 0 || length > file.Length - 12)
            throw new InvalidDataException($"{path}: the footer's length {length} does not fit in a file of {file.Length} bytes");
        var footer = new byte[length];
        file.Seek(-tail.Length - length, SeekOrigin.End);
        file.ReadExactly(footer);
        file.Seek(0, SeekOrigin.Begin);
        parseFooter(new EndThrowingStream(new MemoryStream(footer, writable: false), "the footer's metadata ends inside a field"));
    }

    // Parquet.Net's footer parser (FileMetaData.Read over its ThriftCompactProtocolReader) is internal; found once. A
    // version without it fails here, outside the catch that would report it as a bad file, and the fuzz finding's test
    // fails with it.
    private static readonly Lazy<Action<Stream>> FooterParser = new(() =>
    {
        const BindingFlags any = BindingFlags.Public | BindingFlags.NonPublic;
        var protocol = typeof(FileMetaData).Assembly.GetType("Parquet.Meta.Proto.ThriftCompactProtocolReader", throwOnError: true)!;
        var create = protocol.GetConstructor(BindingFlags.Instance | any, [typeof(Stream)])
            ?? throw new MissingMethodException(protocol.FullName, ".ctor(Stream)");
        var read = typeof(FileMetaData).GetMethod("Read", BindingFlags.Static | any, [protocol])
            ?? throw new MissingMethodException(typeof(FileMetaData).FullName, "Read");
        return stream => read.Invoke(null, BindingFlags.DoNotWrapExceptions, null, [create.Invoke([stream])], null);
    });

    /// <summary>A stream read past its end only by an exception, which Parquet.Net's loops cannot take for data.</summary>
    private sealed class EndThrowingStream(Stream inner, string atEnd) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => inner.Position = value; }
        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
        public override int Read(byte[] buffer, int offset, int count) => Checked(inner.Read(buffer, offset, count), count);
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Checked(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false), buffer.Length);
        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        private int Checked(int read, int wanted) => read > 0 || wanted == 0 ? read : throw new EndOfStreamException(atEnd);
    }

    private static async Task<TextDataset> ReadAsync(Stream stream, string path, DatasetLoadOptions options)
    {
        var reader = await ParquetReader.CreateAsync(stream).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            var fields = reader.Schema.GetDataFields();
            string[] names = [.. fields.Select(f => f.Name)];
            var text = fields[ColumnChooser.Find(names, options.TextColumn, ColumnChooser.TextDefaults, "text", path)];
            int pairIndex = ColumnChooser.Find(names, options.TextPairColumn, [], "text-pair", path);
            var pair = pairIndex >= 0 ? fields[pairIndex] : null;
            var label = fields[ColumnChooser.Find(names, options.LabelColumn, [ColumnChooser.LabelDefault], "label", path)];
            foreach (var f in pair is null ? [text] : new[] { text, pair })
            {
                if (!IsString(f))
                    throw new InvalidDataException($"{path}: text column '{f.Name}' holds {f.ClrType.Name} values, not strings");
            }

            var rows = new ExampleCollector(path, options, text.Name, pair?.Name, label.Name);
            long row = 0;
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                int n = checked((int)group.RowCount);
                var texts = await Strings(group, text, n).ConfigureAwait(false);
                var pairs = pair is null ? null : await Strings(group, pair, n).ConfigureAwait(false);
                var labels = await Labels(group, label, n, path).ConfigureAwait(false);
                for (int i = 0; i < n; i++)
                    rows.Add(texts[i], pairs?[i], labels[i], ++row);
            }
            return rows.Build();
        }
    }

    // Parquet.Net 6 reports string columns as ReadOnlyMemory<char>; they read as strings all the same.
    private static bool IsString(DataField field) => field.ClrType == typeof(string) || field.ClrType == typeof(ReadOnlyMemory<char>);

    private static async Task<string?[]> Strings(ParquetRowGroupReader group, DataField field, int n)
    {
        var values = new string?[n];
        await group.ReadAsync(field, values.AsMemory()).ConfigureAwait(false);
        return values;
    }

    private static Task<string?[]> Labels(ParquetRowGroupReader group, DataField field, int n, string path)
    {
        var t = field.ClrType;
        return IsString(field) ? Strings(group, field, n)
            : t == typeof(long) ? Numbers<long>(group, field, n)
            : t == typeof(int) ? Numbers<int>(group, field, n)
            : t == typeof(short) ? Numbers<short>(group, field, n)
            : t == typeof(sbyte) ? Numbers<sbyte>(group, field, n)
            : t == typeof(byte) ? Numbers<byte>(group, field, n)
            : t == typeof(ushort) ? Numbers<ushort>(group, field, n)
            : t == typeof(uint) ? Numbers<uint>(group, field, n)
            : t == typeof(ulong) ? Numbers<ulong>(group, field, n)
            : t == typeof(bool) ? Booleans(group, field, n)
            : throw new InvalidDataException($"{path}: label column '{field.Name}' holds {t.Name} values; labels must be strings, integers or booleans");
    }

    private static async Task<string?[]> Numbers<T>(ParquetRowGroupReader group, DataField field, int n)
        where T : struct, IFormattable
    {
        if (field.IsNullable)
        {
            var nullable = new T?[n];
            await group.ReadAsync(field, nullable.AsMemory()).ConfigureAwait(false);
            return [.. nullable.Select(v => v?.ToString(null, CultureInfo.InvariantCulture))];
        }
        var values = new T[n];
        await group.ReadAsync(field, values.AsMemory()).ConfigureAwait(false);
        return [.. values.Select(v => v.ToString(null, CultureInfo.InvariantCulture))];
    }

    private static async Task<string?[]> Booleans(ParquetRowGroupReader group, DataField field, int n)
    {
        var values = new bool?[n];
        if (field.IsNullable)
        {
            await group.ReadAsync(field, values.AsMemory()).ConfigureAwait(false);
        }
        else
        {
            var plain = new bool[n];
            await group.ReadAsync(field, plain.AsMemory()).ConfigureAwait(false);
            for (int i = 0; i < n; i++) values[i] = plain[i];
        }
        return [.. values.Select(v => v is null ? null : v.Value ? "true" : "false")];
    }
}
