/* demo/bff_token.c — not written yet */
int main(void)
{
    return 1;
}
