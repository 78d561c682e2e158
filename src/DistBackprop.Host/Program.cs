Console.WriteLine("distbackprop");
