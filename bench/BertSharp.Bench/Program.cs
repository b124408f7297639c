if (args is ["data-load", .. var rest]) return DataLoadBench.Run(rest);
Console.WriteLine("usage: dotnet run -c Release --project bench/BertSharp.Bench -- <benchmark>");
return 2;
