if (args is ["data-load", .. var rest]) return DataLoadBench.Run(rest);
if (args is ["onnx", .. var onnxArgs]) return OnnxBench.Run(onnxArgs);
Console.WriteLine("usage: dotnet run -c Release --project bench/BertSharp.Bench -- <benchmark>");
return 2;
