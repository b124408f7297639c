using System.Runtime.InteropServices;
using BertSharp.Inference;
using BertSharp.Model;

namespace BertSharp.Distributed;

/// <summary>
/// Spreads every batch an evaluation runs over the job's ranks. Rank 0 drives: its <see cref="Run"/> sends the
/// padded batch to every rank, each rank scores an even, contiguous share of its rows, and rank 0 gathers the outputs
/// in row order. The other ranks sit in <see cref="Serve"/>, answering batches until rank 0 disposes the runtime.
/// Any task's evaluation runs on top unchanged, because every head's output is batch-major.
/// </summary>
internal sealed class RankSplitRuntime(IModelRuntime inner, ICommunicator communicator) : IModelRuntime
{
    // A header is (batch, sequence); a batch of -1 tells the serving ranks to return.
    private const int Stop = -1;
    private bool _stopped;

    public InferenceRuntime Kind => inner.Kind;

    public float[] Run(BertInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!communicator.IsRoot) throw new InvalidOperationException("rank 0 drives a split evaluation; the other ranks Serve");
        ObjectDisposedException.ThrowIf(_stopped, this);
        int[] header = [input.BatchSize, input.SequenceLength];
        communicator.Broadcast(MemoryMarshal.AsBytes(header.AsSpan()));
        communicator.Broadcast(MemoryMarshal.AsBytes(input.InputIds.AsSpan()));
        communicator.Broadcast(MemoryMarshal.AsBytes(input.TokenTypeIds.AsSpan()));
        communicator.Broadcast(MemoryMarshal.AsBytes(input.AttentionMask.AsSpan()));
        var parts = communicator.Gather(MemoryMarshal.AsBytes(Share(input).AsSpan()))!;
        var output = new float[parts.Sum(p => p.Length) / sizeof(float)];
        int at = 0;
        foreach (var part in parts)
        {
            MemoryMarshal.Cast<byte, float>(part).CopyTo(output.AsSpan(at));
            at += part.Length / sizeof(float);
        }
        return output;
    }

    /// <summary>On a rank other than 0: scores its share of each batch rank 0 runs, until rank 0 is done.</summary>
    public void Serve()
    {
        if (communicator.IsRoot) throw new InvalidOperationException("rank 0 drives a split evaluation; it does not Serve");
        var header = new int[2];
        while (true)
        {
            communicator.Broadcast(MemoryMarshal.AsBytes(header.AsSpan()));
            if (header[0] == Stop) return;
            int n = header[0] * header[1];
            var input = new BertInput(header[0], header[1], new int[n], new int[n], new int[n]);
            communicator.Broadcast(MemoryMarshal.AsBytes(input.InputIds.AsSpan()));
            communicator.Broadcast(MemoryMarshal.AsBytes(input.TokenTypeIds.AsSpan()));
            communicator.Broadcast(MemoryMarshal.AsBytes(input.AttentionMask.AsSpan()));
            communicator.Gather(MemoryMarshal.AsBytes(Share(input).AsSpan()));
        }
    }

    // This rank's rows of the batch, scored: the first (batch mod ranks) ranks take one row more.
    private float[] Share(BertInput input)
    {
        var (start, count) = DataParallel.Even(input.BatchSize, communicator.Rank, communicator.Size);
        if (count == 0) return [];
        if (count == input.BatchSize) return inner.Run(input);
        return inner.Run(input.Rows(start, count));
    }

    /// <summary>On rank 0: releases the serving ranks. The inner runtime stays its owner's.</summary>
    public void Dispose()
    {
        if (_stopped || !communicator.IsRoot) return;
        _stopped = true;
        int[] header = [Stop, 0];
        communicator.Broadcast(MemoryMarshal.AsBytes(header.AsSpan()));
    }
}
