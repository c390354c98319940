//! Text that compresses the way source code does (about 4:1), from a fixed
//! seed, for the benchmarks' apps and images.

pub struct SourceText {
    state: u64,
}

impl SourceText {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// At least `size` bytes of words and line breaks.
    pub fn text(&mut self, size: usize) -> String {
        let mut text = String::with_capacity(size);
        while text.len() < size {
            text.push_str(self.word());
            text.push(if text.len() % 60 < 8 { '\n' } else { ' ' });
        }
        text
    }

    fn word(&mut self) -> &'static str {
        self.state = self
            .state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        [
            "def", "self", "return", "import", "request", "value", "items", "for", "in", "if",
            "user", "data", "render", "query", "None",
        ][(self.state >> 33) as usize % 15]
    }
}
