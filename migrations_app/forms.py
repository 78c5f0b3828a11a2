from django import forms


class ApproveForm(forms.Form):
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class RejectForm(forms.Form):
    reason = forms.CharField(required=True, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
