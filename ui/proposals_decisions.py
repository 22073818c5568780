"""The Proposals panel's decisions on the selected or filtered accounts: approve (with a note
when the policy requires one), reject with a reason code, withdraw an approval, restore a
rejection, and "Approve filtered…" after a confirmation that counts accounts and dollars.

Each goes through :mod:`engine.desk.review` or :mod:`engine.desk.undo` with the versions the panel
loaded; a refusal is shown by the panel (:meth:`ProposalsPanel._refused`). A mixin of
:class:`ui.proposals_panel.ProposalsPanel`, which owns the table, the selection and the run."""
from __future__ import annotations

from engine.core.tasks import RefusedError
from engine.desk.review import decide, trade_value
from ui import dialogs, fmt
from ui.review_dialogs import ReasonDialog
from ui.widgets import set_error_text


class ProposalDecisions:
    """Approve, reject, withdraw, restore; needs the panel's ``ctx``, ``model``, ``table``,
    ``accounts``, ``policy``, ``run_id``, ``action_msg`` and its ``_patch``/``_changed``/
    ``reload``/``_refused``."""

    def approve_selected(self) -> bool:
        accounts = self.selected_accounts()
        df = self.model.frame()
        tiers = set(df.loc[df["account_id"].isin(accounts), "tier"]) if len(df) else set()
        need = sorted(t for t in tiers if self.policy is not None and self.policy.note_required("approve", t))
        if not need:
            return self._decide(accounts, True)
        # the policy requires a note to approve these tiers (engine.core.notes): ask for it first
        who = accounts[0] if len(accounts) == 1 else f"{len(accounts):,} accounts"
        dlg = self._ask("Approve", f"Approve the proposal of {who}?", f"Approve {who}",
                        codes=self.policy.note_policy().codes,
                        informative=f"The policy requires a note to approve {', '.join(need)} accounts.")
        dlg.accepted.connect(lambda: self._decide(accounts, True, note=dlg.values()[1], note_code=dlg.values()[0]))
        return True

    def reject_selected(self) -> bool:
        """Ask for a reason code and text (and so a confirmation), then reject."""
        accounts = self._trading(self.selected_accounts(), "reject")
        if not accounts:
            return False
        who = accounts[0] if len(accounts) == 1 else f"{len(accounts):,} accounts"
        codes = self.policy.reject_codes() if self.policy is not None else ()
        dlg = self._ask("Reject", f"Reject the proposal of {who}?", f"Reject {who}", codes=codes,
                        informative="The reason is kept on the proposal and in the audit log; a rejection can "
                                    "be restored before export.")
        dlg.accepted.connect(lambda: self._decide(accounts, False, reason=dlg.values()[1], code=dlg.values()[0]))
        return True

    def withdraw_selected(self) -> bool:
        """Withdraw the approval of the selected approved accounts (asks why)."""
        from engine.desk.undo import withdraw

        return self._undo(withdraw, "APPROVED", "Withdraw approval", "Withdraw the approval of {who}?",
                          "It goes back to review and is not exported until approved again.")

    def restore_selected(self) -> bool:
        """Restore the selected rejected accounts to review (asks why)."""
        from engine.desk.undo import restore

        return self._undo(restore, "REJECTED", "Restore", "Restore the rejected proposal of {who} to review?",
                          "It goes back to review and needs an approval.")

    def _ask(self, title: str, text: str, ok: str, *, codes=(), informative: str = "") -> ReasonDialog:
        if self.reason_dialog is not None:
            self.reason_dialog.close()
        self.reason_dialog = ReasonDialog(self, title, text, ok, codes=tuple(codes), informative=informative)
        self.reason_dialog.open()
        return self.reason_dialog

    def _trading(self, accounts: list[str], word: str, status: str | None = None) -> list[str]:
        df = self.model.frame()
        sub = df[df["account_id"].isin(accounts)] if len(df) and accounts else df.iloc[:0]
        todo = sub[sub["trading"].astype(bool)] if len(sub) else sub
        if status is not None and len(todo):
            todo = todo[todo["status"] == status]
        if not len(todo):
            set_error_text(self.action_msg, f"Select an account to {word}.")
            return []
        return todo["account_id"].tolist()

    def _undo(self, fn, status: str, title: str, text: str, informative: str) -> bool:
        accounts = self._trading(self.selected_accounts(), title.lower(), status)
        if not accounts:
            return False
        df = self.model.frame()
        versions = dict(zip(df["account_id"], (int(v) for v in df["version"])))
        who = accounts[0] if len(accounts) == 1 else f"{len(accounts):,} accounts"
        dlg = self._ask(title, text.format(who=who), title, informative=informative)

        def done():
            try:
                fn(self.ctx.engine, accounts, reason=dlg.values()[1], user=self.ctx.user, run_id=self.run_id,
                   expected_versions={a: versions[a] for a in accounts})
            except RefusedError as exc:
                self._refused(title, exc, self.action_msg)
                return
            self.reload()
            set_error_text(self.action_msg, f"{title}: {who} back to review.", ok=True)
        dlg.accepted.connect(done)
        return True

    def _blocked(self, account: str) -> str:
        """Why the account's approved or proposed trades would be kept back at export now."""
        from engine.desk.compliance import proposals_blocked

        if self.run_id is None:
            return ""
        known = getattr(self, "_blocked_map", None)  # the panel's read made it for every account
        if known is not None:
            return known.get(account, "")
        with self.ctx.engine.connect() as conn:
            return proposals_blocked(conn, self.run_id, [account]).get(account, "")

    def _decide(self, accounts: list[str], approve: bool, *, advance: bool = True, reason: str | None = None,
                code: str | None = None, note: str | None = None, note_code: str | None = None) -> bool:
        word = "approve" if approve else "reject"
        df = self.model.frame()
        if not accounts or not len(df):
            set_error_text(self.action_msg, f"Select an account to {word}.")
            return False
        sub = df[df["account_id"].isin(accounts)]
        todo = sub[sub["trading"]]
        skipped = len(sub) - len(todo)
        if not len(todo):
            set_error_text(self.action_msg, f"Nothing to {word}: {', '.join(accounts[:5])} "
                                            f"{'has' if len(accounts) == 1 else 'have'} no trades proposed.")
            return False
        ids = todo["account_id"].tolist()
        versions = dict(zip(ids, (int(v) for v in todo["version"])))
        row_before = self.table.selected_row()
        try:
            d = decide(self.ctx.engine, ids, approve=approve, user=self.ctx.user, run_id=self.run_id,
                       expected_versions=versions, reason=reason, code=code, note=note, note_code=note_code)
        except RefusedError as exc:
            self._refused("Approve" if approve else "Reject", exc, self.action_msg)
            return False
        status = "APPROVED" if approve else "REJECTED"
        self._patch(ids, status=status, decided_by=self.ctx.user,
                    bump=set(todo.loc[todo["status"] != status, "account_id"]),
                    fields={"decision_code": code, "decision_reason": reason})
        who = ids[0] if len(ids) == 1 else f"{len(ids):,} accounts"
        blocked = (f" Blocked now, not exported until it ends: "
                   + "; ".join(f"{a}: {why}" for a, why in sorted(d.blocked.items())[:5])
                   + (" …" if len(d.blocked) > 5 else "")) if d.blocked else ""
        set_error_text(self.action_msg, f"{'Approved' if approve else 'Rejected'} {who}."
                       + (f" {skipped:,} selected account(s) without trades left as they are." if skipped else "")
                       + blocked, ok=not blocked)
        if advance and len(accounts) == 1 and row_before >= 0:
            self._advance_after = row_before
        self._changed()
        return True

    def approve_filtered(self) -> bool:
        """Approve every filtered account of the tier that awaits review, after a confirmation."""
        shown = self.filtered_frame()
        todo = shown[shown["needs_review"]] if len(shown) else shown
        if not len(todo):
            set_error_text(self.action_msg, "No filtered account awaits review.")
            return False
        ids = todo["account_id"].tolist()
        dollars = trade_value(self.ctx.engine, ids, run_id=self.run_id)
        others = len(shown) - len(todo)
        tier = self.current_tier()
        n = len(ids)
        text = (f"Approve {n:,} {tier} account{'s' if n != 1 else ''} with {fmt.money(dollars)} of trades?")
        informative = ("Every account the filters show that awaits review"
                       + (f" ({self._describe_filters()})" if self._describe_filters() else "") + "."
                       + (f" {others:,} filtered account{'s are' if others != 1 else ' is'} already decided or "
                          "without trades and left as "
                          f"{'they are' if others != 1 else 'it is'}." if others else ""))
        if not dialogs.confirm(self, "Approve filtered accounts", text, informative, ok=f"Approve {n:,}"):
            return False
        versions = dict(zip(ids, (int(v) for v in todo["version"])))
        try:
            d = decide(self.ctx.engine, ids, approve=True, user=self.ctx.user, run_id=self.run_id,
                       expected_versions=versions)
        except RefusedError as exc:
            self._refused("Approve filtered accounts", exc, self.action_msg)
            return False
        self._patch(ids, status="APPROVED", decided_by=self.ctx.user, bump=set(ids),
                    fields={"decision_code": None, "decision_reason": None})
        blocked = (f" {len(d.blocked):,} of them are blocked now and not exported until that ends: "
                   + "; ".join(f"{a}: {why}" for a, why in sorted(d.blocked.items())[:5])
                   + (" …" if len(d.blocked) > 5 else "")) if d.blocked else ""
        set_error_text(self.action_msg, f"Approved {n:,} {tier} accounts ({fmt.money(dollars)} of trades)." + blocked,
                       ok=not blocked)
        self._changed()
        return True

    def _describe_filters(self) -> str:
        return self.accounts.describe_filters()

