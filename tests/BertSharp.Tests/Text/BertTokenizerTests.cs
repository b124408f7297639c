using BertSharp.Text;

namespace BertSharp.Tests.Text;

/// <summary>The spec's examples, HF's pair and truncation rules on hand-worked cases, decoding and offsets.</summary>
public class BertTokenizerTests
{
    private static readonly BertTokenizer Tokenizer = BertTokenizer.FromBuiltIn();

    // bert-base-uncased ids used below: a..j = 1037..1046, "." 1012, "?" 1029, what 2054, about 2055, you 2017.

    [Fact]
    public void SpecExampleIds() =>
        Assert.Equal([101, 1045, 2066, 17953, 2361, 102], Tokenizer.Encode("I like NLP").Ids);

    [Fact]
    public void SpecSubwords() => Assert.Equal(["token", "##ization"], Tokenizer.Tokenize("tokenization"));

    [Fact]
    public void SpecEmojiMakesTheLastWordUnknown() =>
        Assert.Equal(["i", "like", "[UNK]"], Tokenizer.Tokenize("I like NLP😀"));

    [Fact]
    public void SpecialIdsComeFromTheVocabulary()
    {
        Assert.Equal((101, 102, 100, 0, 103), (Tokenizer.ClsId, Tokenizer.SepId, Tokenizer.UnkId, Tokenizer.PadId, Tokenizer.MaskId));
    }

    [Fact]
    public void SpecPairTypeIds()
    {
        var e = Tokenizer.Encode("I like NLP.", "What about you?");
        Assert.Equal([101, 1045, 2066, 17953, 2361, 1012, 102, 2054, 2055, 2017, 1029, 102], e.Ids);
        Assert.Equal([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1], e.TypeIds);
        Assert.Equal([1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], e.SpecialTokensMask);
        Assert.Equal([null, 0, 0, 0, 0, 0, null, 1, 1, 1, 1, null], e.SequenceIds);
    }

    [Fact]
    public void SpecBatchPaddingMask()
    {
        var batch = Tokenizer.EncodeBatchToInput(["I like NLP.", "What are your thoughts on the subject?"]);
        Assert.Equal((2, 10), (batch.BatchSize, batch.SequenceLength));
        Assert.Equal([1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], batch.AttentionMask);
        Assert.Equal([101, 1045, 2066, 17953, 2361, 1012, 102, 0, 0, 0], batch.InputIds[..10]);
        batch.Validate();
    }

    [Fact]
    public void PaddingToMaxLength()
    {
        var e = Tokenizer.EncodeBatch(["a b"], options: new EncodeOptions { MaxLength = 6 }, padding: PaddingStrategy.MaxLength)[0];
        Assert.Equal([101, 1037, 1038, 102, 0, 0], e.Ids);
        Assert.Equal([1, 1, 1, 1, 0, 0], e.AttentionMask);
        Assert.Equal([null, 0, 1, null, null, null], e.WordIds);
    }

    [Fact]
    public void OffsetsPointIntoTheOriginalString()
    {
        // Indices: H0 é1 l2 l3 o4 ,5 ␠6 W7..D11 😀12-13 ␠14 e15 U+0301 16 !17. "world😀" is one word
        // with no pieces → [UNK] over its whole span; the dropped accent is not part of any token.
        const string text = "Héllo, WORLD😀 e\u0301!";
        var e = Tokenizer.Encode(text);
        Assert.Equal(["[CLS]", "hello", ",", "[UNK]", "e", "!", "[SEP]"], e.Tokens);
        Assert.Equal([(0, 0), (0, 5), (5, 6), (7, 14), (15, 16), (17, 18), (0, 0)], e.Offsets);
        Assert.Equal([null, 0, 1, 2, 3, 4, null], e.WordIds);
    }

    [Fact]
    public void OffsetsSkipRemovedCharactersInsideAWord()
    {
        // U+0001 is removed, so "hel\u0001lo" is the word "hello" spanning the whole string; "naïve" is
        // "naive" (0, 5); "x\u00A0y" is two words split by a non-ASCII space.
        var e = Tokenizer.Encode("hel\u0001lo naïve x\u00A0y", options: new EncodeOptions { AddSpecialTokens = false });
        Assert.Equal(["hello", "naive", "x", "y"], e.Tokens);
        Assert.Equal([(0, 6), (7, 12), (13, 14), (15, 16)], e.Offsets);
    }

    [Fact]
    public void OffsetsOfSubwordsAndCjk()
    {
        var e = Tokenizer.Encode("xTokenization 中文", options: new EncodeOptions { AddSpecialTokens = false });
        Assert.Equal(["x", "##tok", "##eni", "##zation", "中", "文"], e.Tokens);
        Assert.Equal([(0, 1), (1, 4), (4, 7), (7, 13), (14, 15), (15, 16)], e.Offsets);
        Assert.Equal([0, 0, 0, 0, 1, 2], e.WordIds.Select(w => w!.Value));
    }

    [Fact]
    public void SpecialTokensInTextStayWholeButLowerCaseOnesDoNot()
    {
        Assert.Equal(["the", "[MASK]", "sat", "[", "mask", "]"], Tokenizer.Tokenize("The [MASK] sat [mask]"));
        Assert.Equal(["a", "[MASK]", "b"], Tokenizer.Tokenize("a[MASK]b"));
    }

    [Fact]
    public void FinalSigmaIsLowerCasedPerCharacter() =>
        Assert.Equal(Tokenizer.Tokenize("οδοσ"), Tokenizer.Tokenize("ΟΔΟΣ"));

    [Fact]
    public void LongestFirstCutsOnlyTheLongerWhenTheShorterFits()
    {
        // A has 10 tokens, B 3; max_length 11 leaves 8: B keeps 3, A gets 5.
        var e = Tokenizer.Encode("a b c d e f g h i j", "a b c", new EncodeOptions { MaxLength = 11 });
        Assert.Equal([101, 1037, 1038, 1039, 1040, 1041, 102, 1037, 1038, 1039, 102], e.Ids);
    }

    [Fact]
    public void LongestFirstSplitsEvenlyAndGivesTheOddTokenToTheLonger()
    {
        // A 6, B 7, 9 left: both would need cutting, so half each with the odd one to B (the longer).
        var e = Tokenizer.Encode("a b c d e f", "a b c d e f g", new EncodeOptions { MaxLength = 12 });
        Assert.Equal([101, 1037, 1038, 1039, 1040, 102, 1037, 1038, 1039, 1040, 1041, 102], e.Ids);
        // 8 left: 4 and 4.
        e = Tokenizer.Encode("a b c d e f", "a b c d e f g", new EncodeOptions { MaxLength = 11 });
        Assert.Equal([101, 1037, 1038, 1039, 1040, 102, 1037, 1038, 1039, 1040, 102], e.Ids);
    }

    [Fact]
    public void OnlySecondWithStrideGivesOverflowWindows()
    {
        // Question "a" (1 token) + context of 10 tokens, max_length 8 → 4 context tokens per window,
        // stride 2 → windows start at 0, 2, 4, 6 and the one reaching the end is the last.
        var e = Tokenizer.Encode("a", "a b c d e f g h i j",
            new EncodeOptions { MaxLength = 8, Truncation = TruncationStrategy.OnlySecond, Stride = 2, ReturnOverflowing = true });
        Assert.Equal([101, 1037, 102, 1037, 1038, 1039, 1040, 102], e.Ids);
        Assert.Equal(3, e.Overflowing.Count);
        Assert.Equal([101, 1037, 102, 1039, 1040, 1041, 1042, 102], e.Overflowing[0].Ids);
        Assert.Equal([101, 1037, 102, 1041, 1042, 1043, 1044, 102], e.Overflowing[1].Ids);
        Assert.Equal([101, 1037, 102, 1043, 1044, 1045, 1046, 102], e.Overflowing[2].Ids);
        Assert.Equal([0, 0, 0, 1, 1, 1, 1, 1], e.Overflowing[2].TypeIds);
        Assert.Equal([(0, 0), (0, 1), (0, 0), (12, 13), (14, 15), (16, 17), (18, 19), (0, 0)], e.Overflowing[2].Offsets);
    }

    [Fact]
    public void SingleTextOverflowWithoutStride()
    {
        var e = Tokenizer.Encode("a b c d e", options: new EncodeOptions { MaxLength = 4, ReturnOverflowing = true });
        Assert.Equal([101, 1037, 1038, 102], e.Ids);
        Assert.Equal([[101, 1039, 1040, 102], [101, 1041, 102]], e.Overflowing.Select(o => o.Ids));
    }

    [Fact]
    public void OnlyFirstThatCannotCutEnoughIsAnError()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tokenizer.Encode("a", "a b c d e f", new EncodeOptions { MaxLength = 6, Truncation = TruncationStrategy.OnlyFirst }));
        Assert.Contains("only_first", ex.Message);
    }

    [Fact]
    public void MaxLengthSmallerThanTheSpecialTokensIsAnError()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tokenizer.Encode("a", "b", new EncodeOptions { MaxLength = 2 }));
        Assert.Contains("3 special tokens", ex.Message);
        // Exactly the special tokens: everything is cut, as HF does.
        Assert.Equal([101, 102], Tokenizer.Encode("a b", options: new EncodeOptions { MaxLength = 2 }).Ids);
    }

    [Fact]
    public void EmptyTextAndEmptyPair()
    {
        Assert.Equal([101, 102], Tokenizer.Encode("").Ids);
        Assert.Equal([101, 102, 102], Tokenizer.Encode("", "").Ids);
        Assert.Empty(Tokenizer.Tokenize(" \t\u0085 "));
    }

    [Fact]
    public void DefaultTruncationIsTheModelMaximum()
    {
        var e = Tokenizer.Encode(string.Join(' ', Enumerable.Repeat("word", 1000)));
        Assert.Equal(512, e.Length);
        Assert.Equal(102, e.Ids[^1]);
    }

    [Fact]
    public void DecodeJoinsPiecesAndCanSkipSpecialTokens()
    {
        var ids = Tokenizer.Encode("I like NLP").Ids;
        Assert.Equal("[CLS] i like nlp [SEP]", Tokenizer.Decode(ids));
        Assert.Equal("i like nlp", Tokenizer.Decode(ids, skipSpecialTokens: true));
        Assert.Equal("hello, world! it's tokenization.", Tokenizer.Decode(Tokenizer.Encode("Hello, world! It's tokenization.").Ids, skipSpecialTokens: true));
    }

    [Fact]
    public void TokensAndIdsConvertBothWays()
    {
        Assert.Equal([2066, 100], Tokenizer.ConvertTokensToIds(["like", "no-such-token"]));
        Assert.Equal(["like", "##p"], Tokenizer.ConvertIdsToTokens([2066, 2361]));
    }

    [Fact]
    public void BatchOnAllCoresEqualsOneByOne()
    {
        var texts = TextCorpus.Tricky(300).Where(t => t.Length > 0).ToList();
        var batch = Tokenizer.EncodeBatch(texts, padding: PaddingStrategy.DoNotPad);
        for (int i = 0; i < texts.Count; i++) Assert.Equal(Tokenizer.Encode(texts[i]).Ids, batch[i].Ids);
    }

    [Fact]
    public void EncodeToIdsIntoASpanEqualsEncode()
    {
        Span<int> ids = stackalloc int[512];
        foreach (var text in TextCorpus.Tricky(500).Concat(TextCorpus.SharedData(imdbEvery: 500).Select(l => l.Text).Take(3000)))
        {
            int n = Tokenizer.EncodeToIds(text, ids);
            Assert.Equal(Tokenizer.Encode(text).Ids, ids[..n].ToArray());
        }
        Span<int> small = stackalloc int[4];
        Assert.Equal(4, Tokenizer.EncodeToIds("a b c d e", small));
        Assert.Equal([101, 1037, 1038, 102], small.ToArray());
        Assert.Throws<ArgumentException>(() => Tokenizer.EncodeToIds("a", new int[1]));
    }

    [Fact]
    public void ModelDirectoryConfigOverridesTokenizerJson()
    {
        // transformers' BertTokenizerFast rebuilds the normalizer when tokenizer_config.json disagrees.
        var dir = Directory.CreateTempSubdirectory("bertsharp-model-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), HfOracle.TokenizerJson(HfOracle.ReadVocab(), lowercase: true, stripAccents: null));
            Assert.Equal(["nl", "##p"], BertTokenizer.FromDirectory(dir).Tokenize("NLP"));
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"do_lower_case": false, "model_max_length": 8}""");
            var cased = BertTokenizer.FromDirectory(dir);
            Assert.Equal(["[UNK]"], cased.Tokenize("NLP"));
            Assert.Equal(8, cased.Encode("a b c d e f g h i j").Length);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void CasedOptionsKeepCaseAndAccents()
    {
        var cased = BertTokenizer.FromBuiltIn(options: new BertTokenizerOptions { DoLowerCase = false });
        Assert.Equal(["[UNK]"], cased.Tokenize("NLP")); // the uncased vocabulary has no capitals
        var accented = BertTokenizer.FromBuiltIn(options: new BertTokenizerOptions { StripAccents = false }).Tokenize("Café");
        Assert.NotEqual(["cafe"], accented); // "##é" is not in the uncased vocabulary: the word is unknown
        Assert.Equal(["cafe"], Tokenizer.Tokenize("Café"));
    }
}
