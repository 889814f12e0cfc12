/// The epoch numbers of a series, ascending, each once. Kept as a run (its first number and its length) while
/// they are consecutive, which is what a training loop reports (0, 1, 2, …), and as an array once they are not:
/// 100k epochs then take 16 bytes instead of 800 KB (issue 13: the TUI's memory with a 100k-epoch job).
public struct EpochNumbers: RandomAccessCollection, Equatable, Sendable, ExpressibleByArrayLiteral {
    /// The run: `start`, `start + 1`, …, `count` of them. Unused once `list` is set.
    private var start = 0
    private var runLength = 0
    /// The numbers one by one, once they stopped being consecutive.
    private var list: [Int]?

    public init() {}

    public init(_ numbers: [Int]) {
        if let first = numbers.first, numbers.last! - first == numbers.count - 1,
            zip(numbers, numbers.dropFirst()).allSatisfy({ $1 == $0 + 1 })
        {
            start = first
            runLength = numbers.count
        } else if !numbers.isEmpty {
            list = numbers
        }
    }

    public init(arrayLiteral numbers: Int...) { self.init(numbers) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { list?.count ?? runLength }

    public subscript(i: Int) -> Int {
        if let list { return list[i] }
        precondition(i >= 0 && i < runLength, "epoch index out of range")
        return start + i
    }

    /// Whether they are held as a run (what the memory figure depends on).
    var isRun: Bool { list == nil }

    /// Puts `number` at `index` (the caller keeps them ascending): the run grows at either end, anything else
    /// turns it into an array.
    mutating func insert(_ number: Int, at index: Int) {
        if list == nil {
            if runLength == 0 {
                (start, runLength) = (number, 1)
                return
            }
            if index == runLength && number == start + runLength {
                runLength += 1
                return
            }
            if index == 0 && number == start - 1 {
                start -= 1
                runLength += 1
                return
            }
            list = Array(self)
        }
        list!.insert(number, at: index)
    }

    public static func == (a: EpochNumbers, b: EpochNumbers) -> Bool {
        if a.list == nil, b.list == nil { return a.runLength == b.runLength && (a.runLength == 0 || a.start == b.start) }
        return a.elementsEqual(b)
    }
}
