using System.Text;
using System.Text.Unicode;

namespace BertSharp.Data;

/// <summary>
/// UTF-8 decoding that refuses invalid bytes instead of turning them into U+FFFD: a Latin-1 or
/// Windows-1252 file read as UTF-8 would otherwise train on silently corrupted text.
/// </summary>
internal static class StrictUtf8
{
    /// <summary>Decodes <paramref name="bytes"/>, which start at <paramref name="offset"/> and line <paramref name="line"/> of <paramref name="file"/>.</summary>
    /// <exception cref="InvalidDataException">The bytes are not valid UTF-8; the message names the file, line and byte offset.</exception>
    public static string Decode(ReadOnlySpan<byte> bytes, string file, long offset, long line)
    {
        Validate(bytes, file, offset, line);
        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>
    /// For a reader that failed to decode <paramref name="file"/>: throws the error naming the line and byte offset of its
    /// first invalid byte (a StreamReader decodes blocks ahead of the lines it returns, so its own count is not the line).
    /// </summary>
    public static Exception InvalidIn(string file)
    {
        Validate(File.ReadAllBytes(file), file, 0, 1);
        return new InvalidDataException($"{file}: not valid UTF-8; convert the file to UTF-8");
    }

    public static void Validate(ReadOnlySpan<byte> bytes, string file, long offset, long line)
    {
        if (Utf8.IsValid(bytes))
            return;
        int bad = FirstInvalid(bytes);
        long badLine = line + bytes[..bad].Count((byte)'\n');
        string where = line > 0 ? $"{file}, line {badLine}" : file;
        throw new InvalidDataException(
            $"{where}: byte 0x{bytes[bad]:X2} at byte offset {offset + bad} is not valid UTF-8; convert the file to UTF-8");
    }

    private static int FirstInvalid(ReadOnlySpan<byte> bytes)
    {
        int i = 0;
        while (i < bytes.Length)
        {
            if (Rune.DecodeFromUtf8(bytes[i..], out _, out int consumed) != System.Buffers.OperationStatus.Done)
                return i;
            i += consumed;
        }
        return bytes.Length;
    }
}
