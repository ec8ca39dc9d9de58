//! The elementwise functions of two values: [`BinaryOp`] and its scalar formula, evaluated by
//! every backend's broadcasting kernel. The chain rule for each lives in `ops/binary.rs`.

/// An elementwise function of two values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// a + b
    Add,
    /// a − b
    Sub,
    /// a · b
    Mul,
    /// a / b
    Div,
    /// aᵇ
    Pow,
    /// max(a, b)
    Maximum,
    /// min(a, b)
    Minimum,
    /// 1 if a > b else 0
    Gt,
    /// 1 if a ≥ b else 0
    Ge,
    /// 1 if a < b else 0
    Lt,
    /// 1 if a ≤ b else 0
    Le,
    /// 1 if a = b else 0
    Eq,
    /// 1 if a ≠ b else 0
    Ne,
}

impl BinaryOp {
    /// The op's name.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
        }
    }

    /// op(a, b).
    #[inline]
    pub fn apply(self, a: f32, b: f32) -> f32 {
        let flag = |c: bool| if c { 1.0 } else { 0.0 };
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Pow => a.powf(b),
            BinaryOp::Maximum => a.max(b),
            BinaryOp::Minimum => a.min(b),
            BinaryOp::Gt => flag(a > b),
            BinaryOp::Ge => flag(a >= b),
            BinaryOp::Lt => flag(a < b),
            BinaryOp::Le => flag(a <= b),
            BinaryOp::Eq => flag(a == b),
            BinaryOp::Ne => flag(a != b),
        }
    }

    /// Whether the op has a gradient (comparisons are piecewise constant: they have none).
    pub fn differentiable(self) -> bool {
        matches!(
            self,
            BinaryOp::Add
                | BinaryOp::Sub
                | BinaryOp::Mul
                | BinaryOp::Div
                | BinaryOp::Pow
                | BinaryOp::Maximum
                | BinaryOp::Minimum
        )
    }
}
