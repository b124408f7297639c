namespace BertSharp.Data;

/// <summary>
/// Streams a file line by line as raw bytes, with each line's number and byte offset, so that
/// line-based formats can decode strictly and report where a bad byte is. The span a read returns
/// is valid until the next read.
/// </summary>
internal sealed class ByteLineReader(Stream stream) : IDisposable
{
    private byte[] _buffer = new byte[1 << 16];
    private int _start;
    private int _end;
    private long _bufferOffset;
    private bool _eof;

    /// <summary>The 1-based number of the line last read.</summary>
    public long LineNumber { get; private set; }

    /// <summary>The byte offset in the file where the line last read starts.</summary>
    public long LineOffset { get; private set; }

    public bool TryReadLine(out ReadOnlySpan<byte> line)
    {
        while (true)
        {
            int newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline >= 0 || (_eof && _start < _end))
            {
                int length = newline >= 0 ? newline : _end - _start;
                line = _buffer.AsSpan(_start, length);
                if (line.Length > 0 && line[^1] == (byte)'\r')
                    line = line[..^1];
                LineOffset = _bufferOffset + _start;
                LineNumber++;
                _start += newline >= 0 ? length + 1 : length;
                return true;
            }
            if (_eof)
            {
                line = default;
                return false;
            }
            Fill();
        }
    }

    private void Fill()
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _bufferOffset += _start;
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length)
            Array.Resize(ref _buffer, _buffer.Length * 2);
        int read = stream.Read(_buffer, _end, _buffer.Length - _end);
        if (read == 0)
            _eof = true;
        _end += read;
    }

    public void Dispose() => stream.Dispose();
}
