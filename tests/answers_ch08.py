"""Answers to the chapter 8 exercises: the correct one and mistakes a student would plausibly make."""


def _norm(g, norm):
    total = float((g**2).sum())
    return total / g.size if norm == "fro_scaled" else total


def full_data_score(grads, sizes, norm):
    # minibatch k's mean loss has gradient G_k = (1/n_k) sum of its samples' gradients, so the
    # full mean loss (1/N) sum over all samples has gradient sum_k n_k G_k / N
    full = sum(n * g for n, g in zip(sizes, grads)) / sum(sizes)
    return _norm(full, norm)


def full_data_score_plain_mean(grads, sizes, norm):
    return _norm(sum(grads) / len(grads), norm)  # the package's average: right only for equal sizes


def full_data_score_no_division(grads, sizes, norm):
    return _norm(sum(n * g for n, g in zip(sizes, grads)), norm)  # the 1/N forgotten


def full_data_score_inverse_weights(grads, sizes, norm):
    weights = [1 / n for n in sizes]
    return _norm(sum(w * g for w, g in zip(weights, grads)) / sum(weights), norm)  # weighted by 1/n_k


def full_data_score_square_first(grads, sizes, norm):
    return sum(n * _norm(g, norm) for n, g in zip(sizes, grads)) / sum(sizes)  # squared before averaging


def reindex_state(state, params_per_module, position, inserted):
    first = sum(params_per_module[:position])  # index of the first parameter after the insertion point
    shift = sum(inserted)
    return {(i + shift if i >= first else i): s for i, s in state.items()}


def reindex_state_by_module_position(state, params_per_module, position, inserted):
    shift = sum(inserted)
    return {(i + shift if i >= position else i): s for i, s in state.items()}  # module index as parameter index


def reindex_state_unchanged(state, params_per_module, position, inserted):
    return dict(state)  # the state kept by its old index


def reindex_state_shift_by_modules(state, params_per_module, position, inserted):
    first = sum(params_per_module[:position])
    return {(i + len(inserted) if i >= first else i): s for i, s in state.items()}  # modules, not parameters


def reindex_state_off_by_one(state, params_per_module, position, inserted):
    first = sum(params_per_module[:position])
    return {(i + sum(inserted) if i > first else i): s for i, s in state.items()}  # > instead of >=


def reindex_state_new_layer_copies(state, params_per_module, position, inserted):
    first = sum(params_per_module[:position])
    new = reindex_state(state, params_per_module, position, inserted)
    new[first] = state[first - 1]  # the new layer "inherits" the previous layer's momentum
    return new


def reindex_state_in_place(state, params_per_module, position, inserted):
    first, shift = sum(params_per_module[:position]), sum(inserted)
    for i in sorted(state, reverse=True):  # right indices, but the optimizer's own dict is rewritten
        if i >= first:
            state[i + shift] = state.pop(i)
    return state


def reindex_state_empty_for_new(state, params_per_module, position, inserted):
    first = sum(params_per_module[:position])
    new = reindex_state(state, params_per_module, position, inserted)
    new.update({first + k: {} for k in range(sum(inserted))})  # {} instead of an absent key
    return new


ANSWERS = {
    "ch08.full_data_score": {
        "correct": full_data_score,
        "wrong": {
            "plain mean over minibatches": full_data_score_plain_mean,
            "the 1/N forgotten": full_data_score_no_division,
            "weighted by 1/n_k": full_data_score_inverse_weights,
            "squared before averaging": full_data_score_square_first,
        },
    },
    "ch08.reindex_state": {
        "correct": reindex_state,
        "wrong": {
            "module position used as parameter index": reindex_state_by_module_position,
            "state kept at its old index": reindex_state_unchanged,
            "shifted by the number of modules": reindex_state_shift_by_modules,
            "off by one (> instead of >=)": reindex_state_off_by_one,
            "new layer copies the previous layer's state": reindex_state_new_layer_copies,
            "the state dict passed in modified in place": reindex_state_in_place,
            "{} for the new layer's parameters instead of no key": reindex_state_empty_for_new,
        },
    },
}
