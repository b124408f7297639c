using BertSharp.Data;
using BertSharp.Evaluation;
using BertSharp.Inference;
using BertSharp.Model;
using BertSharp.Text;
using BertSharp.Training;
using BertSharp.Tests.Data;

namespace BertSharp.Tests.Training;

public sealed class TokenClassificationTests
{
    private const int Ignore = BertPreTrainedModel.IgnoreIndex;
    private static readonly BertTokenizer Tokenizer = BertTokenizer.FromBuiltIn();

    // The independent truth for alignment: HF's is_split_into_words tokenizes each word on its own; the first of its
    // pieces carries the tag.
    private static (List<string> Pieces, List<int> Labels) PerWord(string[] words, int[] tags, bool allPieces = false, Func<int, int>? inside = null)
    {
        var pieces = new List<string>();
        var labels = new List<int>();
        for (int w = 0; w < words.Length; w++)
        {
            var p = Tokenizer.Tokenize(words[w]);
            for (int i = 0; i < p.Length; i++)
            {
                pieces.Add(p[i]);
                labels.Add(i == 0 ? tags[w] : allPieces ? (inside ?? (t => t))(tags[w]) : Ignore);
            }
        }
        return (pieces, labels);
    }

    [Fact]
    public void FirstPieceOfEachWordCarriesTheTag()
    {
        string[] words = ["Chew", "Choon", "Seng", "flew", "Singapore", "Airlines", "to", "Frankfurt-am-Main", "."];
        int[] tags = [1, 2, 2, 0, 3, 4, 0, 3, 0];
        var (pieces, labels) = PerWord(words, tags);
        Assert.True(pieces.Count > words.Length + 3, "the sentence should hold multi-piece words");
        var window = Assert.Single(TokenAlignment.Align(Tokenizer, words, tags, 128, 16));
        Assert.Equal(["[CLS]", .. pieces, "[SEP]"], Tokenizer.ConvertIdsToTokens(window.InputIds));
        Assert.Equal([Ignore, .. labels, Ignore], window.Labels);
        Assert.Equal(words.Length, window.FirstPiece.Count(f => f));
    }

    [Fact]
    public void LabelAllTokensTagsLaterPiecesWithTheInsideTag()
    {
        string[] words = ["Chew", "Choon", "Seng", "Frankfurt-am-Main"];
        int[] tags = [1, 2, 2, 3];
        int[] inside = [0, 2, 2, 4, 4];
        var (_, labels) = PerWord(words, tags, allPieces: true, t => inside[t]);
        var window = Assert.Single(TokenAlignment.Align(Tokenizer, words, tags, 128, 0, labelAllTokens: true, beginToInside: inside));
        Assert.Equal([Ignore, .. labels, Ignore], window.Labels);
    }

    [Fact]
    public void LongSentenceBecomesOverlappingWindowsThatLabelEveryWord()
    {
        // 40 words, several of them several pieces, in windows of 16 tokens (14 pieces) sharing 4.
        var words = Enumerable.Range(0, 40).Select(i => i % 3 == 0 ? "Frankfurt-am-Main" : i % 3 == 1 ? "Choon" : "and").ToArray();
        var tags = Enumerable.Range(0, 40).Select(i => i % 5).ToArray();
        var (pieces, labels) = PerWord(words, tags);
        var windows = TokenAlignment.Align(Tokenizer, words, tags, 16, 4);
        Assert.True(windows.Count > 3);
        var seen = new HashSet<int>();
        int position = 0;
        foreach (var (w, n) in windows.Select((w, n) => (w, n)))
        {
            Assert.True(w.InputIds.Length <= 16);
            var body = Tokenizer.ConvertIdsToTokens(w.InputIds[1..^1]);
            // Each window continues the piece sequence, repeating the last 4 pieces of the one before.
            int start = n == 0 ? 0 : position - 4;
            Assert.Equal(pieces.Skip(start).Take(body.Length), body);
            for (int t = 1; t < w.InputIds.Length - 1; t++)
            {
                int expected = labels[start + t - 1];
                // A label is the word's tag on its first piece and nothing elsewhere, in whichever window it falls.
                Assert.Equal(expected, w.Labels[t]);
                if (w.FirstPiece[t]) seen.Add(w.WordOfToken[t]);
            }
            position = start + body.Length;
        }
        Assert.Equal(pieces.Count, position);
        Assert.Equal(40, seen.Count);
    }

    [Fact]
    public void Iob1BecomesBio()
    {
        // CoNLL-2003 (IOB1) uses B- only between two adjacent entities of one type.
        Assert.Equal(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "B-ORG", "B-MISC"],
            TokenDataset.ToBio(["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC", "I-ORG", "I-MISC"]));
        Assert.Equal(["B-PER", "I-PER", "B-PER"], TokenDataset.ToBio(["B-PER", "I-PER", "B-PER"]));
        var e = Assert.Throws<InvalidDataException>(() => TokenDataset.ToBio(["O", "E-PER"], "x.txt, line 3"));
        Assert.Contains("x.txt, line 3, word 2", e.Message);
    }

    [Fact]
    public void ReadsConllAndJsonLinesAndNamesTheLineOfBadInput()
    {
        using var dir = new TempDir();
        var conll = dir.Write("a.txt", "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\nGerman JJ I-NP I-MISC\n\nPeter NNP I-NP I-PER\nBlackburn NNP I-NP I-PER\n");
        var data = TokenDataset.Load(conll);
        Assert.Equal(2, data.Count);
        Assert.Equal(["B-ORG", "O", "B-MISC"], data[0].Tags);
        Assert.Equal(["Peter", "Blackburn"], data[1].Words);
        Assert.Equal(["B-MISC", "B-ORG", "B-PER", "I-PER", "O"], data.TagSet());
        Assert.Equal(["I-NP", "I-VP", "I-NP"], TokenDataset.Load(conll, tagColumn: 2)[0].Tags.Select(t => t.Replace("B-", "I-", StringComparison.Ordinal)));

        var jsonl = dir.Write("b.jsonl", "{\"tokens\": [\"Chew\", \"Choon\", \"Seng\"], \"tags\": [\"B-PER\", \"I-PER\", \"I-PER\"]}\n\n{\"tokens\": [\"x\"], \"tags\": [\"O\"]}\n");
        Assert.Equal(2, TokenDataset.Load(jsonl).Count);

        var badTag = dir.Write("c.txt", "EU NNP I-NP I-ORG\nrejects VBZ I-VP X-Y\n");
        Assert.Contains("c.txt, line 2", Assert.Throws<InvalidDataException>(() => TokenDataset.Load(badTag)).Message);
        // A line a column short: its chunk tag was taken for the entity tag, and the error named the sentence's first line.
        var shortLine = dir.Write("f.txt", "EU NNP B-NP I-ORG\nrejects VBZ B-VP\n");
        Assert.Equal($"{shortLine}, line 2: 3 column(s) where the file's first line has 4; the tag is the last column, so every line needs as many",
            Assert.Throws<InvalidDataException>(() => TokenDataset.Load(shortLine)).Message);
        var badJson = dir.Write("d.jsonl", "{\"tokens\": [\"a\"], \"tags\": [\"O\"]}\n{\"tokens\": [\"a\", \"b\"], \"tags\": [\"O\"]}\n");
        var e = Assert.Throws<InvalidDataException>(() => TokenDataset.Load(badJson));
        Assert.Contains("d.jsonl, line 2", e.Message);
        Assert.Contains("\"tags\"", e.Message);
        var noTags = dir.Write("e.jsonl", "{\"tokens\": [\"a\"], \"labels\": [\"O\"]}\n");
        Assert.Contains("no \"tags\" field", Assert.Throws<InvalidDataException>(() => TokenDataset.Load(noTags)).Message);
    }

    /// <summary>
    /// A toy language where the first name is a person and "to X" a place, learnt by a tiny model in a few epochs
    /// and saved to <paramref name="dir"/>; returns the training result and the sentences.
    /// </summary>
    internal static (TrainResult Result, List<TaggedSentence> Sentences) TrainToyModel(string dir)
    {
        string[] names = ["Chew", "Anna", "Boris", "Clara"];
        string[] places = ["Paris", "Berlin", "Oslo", "Rome"];
        var rng = new Random(3);
        var sentences = Enumerable.Range(0, 64).Select(_ =>
        {
            string n = names[rng.Next(names.Length)], p = places[rng.Next(places.Length)];
            return new TaggedSentence([n, "went", "to", p, "today"], ["B-PER", "O", "O", "B-LOC", "O"]);
        }).ToList();
        var train = new TokenDataset(sentences);
        var args = new TrainingArguments { NumTrainEpochs = 4, TrainBatchSize = 8, LearningRate = 5e-3f, MaxLength = 32, LoggingSteps = 4, Seed = 1 };
        var tags = LabelMap.FromLabels(train.TagSet());
        var model = BertForTokenClassification.CreateRandom(new BertConfig
        {
            VocabSize = 30522,
            HiddenSize = 32,
            NumHiddenLayers = 1,
            NumAttentionHeads = 2,
            IntermediateSize = 64,
            MaxPositionEmbeddings = 64,
            Id2Label = tags.Id2Label.Select((l, i) => (i, l)).ToDictionary(p => p.i.ToString(System.Globalization.CultureInfo.InvariantCulture), p => p.l),
        });
        var trainer = new Trainer(model, new TokenClassificationTask(tags), Tokenizer, args, () => global::BertSharp.IO.BuiltInModels.OpenVocab("minilm-l6"), doLowerCase: true);
        return (trainer.Train(train, new TokenDataset(sentences.Take(16)), dir), sentences);
    }

    [Fact]
    public void TrainedTinyModelSavesLoadsEvaluatesAndFindsEntitiesWithOffsets()
    {
        // The pipeline then reports entities whose offsets index the original text (two spaces before Berlin).
        string dir = Directory.CreateTempSubdirectory("bertsharp-ner-").FullName;
        try
        {
            var (result, sentences) = TrainToyModel(dir);
            var report = Assert.IsType<EntityReport>(result.EvalReport);
            Assert.True(report.MicroAverage.F1 > 0.9, report.ToText());

            using var pipeline = TokenClassificationPipeline.Load(dir);
            string text = "Anna went to  Berlin today";
            var entities = pipeline.Predict(text, AggregationStrategy.First);
            Assert.Equal(2, entities.Count);
            Assert.Equal(("PER", "Anna", 0, 4), (entities[0].Entity, entities[0].Word, entities[0].Start, entities[0].End));
            Assert.Equal(("LOC", "Berlin", 14, 20), (entities[1].Entity, entities[1].Word, entities[1].Start, entities[1].End));
            var none = pipeline.Predict(text, AggregationStrategy.None);
            Assert.All(none, e => Assert.Equal(text[e.Start..e.End], e.Word));
            int berlin = Array.IndexOf(pipeline.Encode(text).Tokens, "berlin");
            Assert.Contains(none, e => e.Entity == "B-LOC" && e.Index == berlin);

            // eval's path: the adapter the loaded pipeline names, scoring on either runtime.
            var task = TaskAdapters.For(pipeline);
            var encoded = task.Encode(new TokenDataset(sentences.Take(16)), pipeline.Tokenizer, 32);
            var (again, _) = task.Evaluate(pipeline.Engine, encoded, 8, pipeline.Tokenizer.PadId);
            Assert.Equal(report.MicroAverage.F1, again.Metrics["f1"], 6);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
