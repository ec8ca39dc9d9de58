//! Graded exercises (see the book issue). Empty until the exercises land.
