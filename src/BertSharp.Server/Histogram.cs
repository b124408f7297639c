using System.Globalization;
using System.Text;

namespace BertSharp.Server;

/// <summary>A Prometheus histogram with fixed upper bounds; lock-free to observe.</summary>
internal sealed class Histogram(double[] bounds)
{
    private readonly long[] _counts = new long[bounds.Length + 1];
    private long _sumBits;

    public void Observe(double value)
    {
        int i = 0;
        while (i < bounds.Length && value > bounds[i]) i++;
        Interlocked.Increment(ref _counts[i]);
        long seen = Volatile.Read(ref _sumBits);
        while (true)
        {
            long next = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(seen) + value);
            long was = Interlocked.CompareExchange(ref _sumBits, next, seen);
            if (was == seen) return;
            seen = was;
        }
    }

    /// <summary>Appends the _bucket (cumulative), _sum and _count lines; labels are "" or "key=\"value\",".</summary>
    public void Write(StringBuilder text, string name, string labels)
    {
        long cumulative = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            cumulative += Volatile.Read(ref _counts[i]);
            string le = i < bounds.Length ? bounds[i].ToString("R", CultureInfo.InvariantCulture) : "+Inf";
            text.Append(name).Append("_bucket{").Append(labels).Append("le=\"").Append(le).Append("\"} ")
                .Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        string braces = labels.Length == 0 ? "" : "{" + labels.TrimEnd(',') + "}";
        text.Append(name).Append("_sum").Append(braces).Append(' ')
            .Append(BitConverter.Int64BitsToDouble(Volatile.Read(ref _sumBits)).ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        text.Append(name).Append("_count").Append(braces).Append(' ').Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }
}
